package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class MountPlannerTest {
  private final MountPlanner planner =
      new MountPlanner(new SnapshotLayout(Path.of("/r")), List.of("index=off"));

  @Test
  void withoutParentsABindOfItsOwnFs() {
    assertThat(planner.mounts(1, Kind.ACTIVE, List.of()))
        .containsExactly(new Mount("bind", "/r/snapshots/1/fs", List.of("rw", "rbind")));
    assertThat(planner.mounts(1, Kind.VIEW, List.of()))
        .containsExactly(new Mount("bind", "/r/snapshots/1/fs", List.of("ro", "rbind")));
  }

  @Test
  void aViewOfOneLayerIsAReadOnlyBindOfThatLayer() {
    assertThat(planner.mounts(5, Kind.VIEW, List.of(3L)))
        .containsExactly(new Mount("bind", "/r/snapshots/3/fs", List.of("ro", "rbind")));
  }

  @Test
  void anActiveSnapshotOnLayersIsAnOverlayWithNearestLayerFirst() {
    assertThat(planner.mounts(9, Kind.ACTIVE, List.of(7L, 4L, 1L)))
        .containsExactly(
            new Mount(
                "overlay",
                "overlay",
                List.of(
                    "workdir=/r/snapshots/9/work",
                    "upperdir=/r/snapshots/9/fs",
                    "lowerdir=/r/snapshots/7/fs:/r/snapshots/4/fs:/r/snapshots/1/fs",
                    "index=off")));
  }

  @Test
  void aViewOfSeveralLayersIsAReadOnlyOverlayWithoutUpper() {
    assertThat(planner.mounts(9, Kind.VIEW, List.of(7L, 4L)))
        .containsExactly(
            new Mount(
                "overlay",
                "overlay",
                List.of("lowerdir=/r/snapshots/7/fs:/r/snapshots/4/fs", "index=off")));
  }
}
