package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.overlay.PrepareLabels.Purpose;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import dev.obd.snapshotter.overlaybd.ImageRef;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.TraceDirectory;
import dev.obd.snapshotter.snapshots.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrepareLabelsTest {
  static final String CHAIN =
      "sha256:8776e2f7e7f9f9d0f6c4d4c1a6f0f5e9a3b0e3f3c2d1e0f9a8b7c6d5e4f3a201";
  static final String DIGEST =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";

  private static PrepareLabels container(Map<String, String> labels) {
    return PrepareLabels.parse(Kind.ACTIVE, "default/7/rootfs", labels);
  }

  /** The labels CRI sends with the Prepare of a converted layer in the registry. */
  static Map<String, String> remoteLabels() {
    Map<String, String> l = new HashMap<>();
    l.put(Labels.SNAPSHOT_REF, CHAIN);
    l.put(Labels.BLOB_DIGEST, DIGEST);
    l.put(Labels.BLOB_SIZE, "642560");
    l.put(Labels.CRI_IMAGE_REF, "127.0.0.1:5000/hello:amd64-converted");
    return l;
  }

  @Test
  void theKindOfLayerFollowsTheKindTheKeyAndTheLabels() {
    assertThat(container(Map.of()).purpose()).isEqualTo(Purpose.CONTAINER);
    assertThat(PrepareLabels.parse(Kind.VIEW, "v", remoteLabels()).purpose())
        .isEqualTo(Purpose.VIEW);
    assertThat(
            PrepareLabels.parse(Kind.ACTIVE, "default/3/extract-1-a " + CHAIN, Map.of()).purpose())
        .isEqualTo(Purpose.EXTRACTION);
    assertThat(
            container(Map.of(Labels.SNAPSHOT_REF, CHAIN, Labels.ACCELERATION_LAYER, "yes"))
                .purpose())
        .isEqualTo(Purpose.ACCELERATION_LAYER);
    PrepareLabels remote = container(remoteLabels());
    assertThat(remote.purpose()).isEqualTo(Purpose.REMOTE_LAYER);
    assertThat(remote.remote().orElseThrow().image())
        .isEqualTo(new ImageRef("127.0.0.1:5000", "hello"));
    assertThat(remote.remote().orElseThrow().blobSize()).isEqualTo(642560);
    assertThat(container(Map.of()).remote()).isEmpty();
    assertThat(Purpose.CONTAINER.unpacksLayer()).isFalse();
    assertThat(Purpose.VIEW.unpacksLayer()).isFalse();
    assertThat(Purpose.REMOTE_LAYER.unpacksLayer()).isTrue();
  }

  @Test
  void anAccelerationLayerIsNoRemoteLayerAndAViewIsNeverParsedForOne() {
    Map<String, String> accel = remoteLabels();
    accel.put(Labels.ACCELERATION_LAYER, "yes");
    accel.put(Labels.BLOB_DIGEST, "not a digest");
    assertThat(container(accel).remote()).isEmpty();
    assertThat(PrepareLabels.parse(Kind.VIEW, "v", accel).remote()).isEmpty();
    assertThat(container(Map.of(Labels.BLOB_DIGEST, "x")).remote())
        .as("an incomplete set is no remote layer")
        .isEmpty();
  }

  @Test
  void malformedRemoteLabelsAndAnEmptySnapshotRefAreRefused() {
    Map<String, String> bad = remoteLabels();
    bad.put(Labels.BLOB_SIZE, "-1");
    assertThatThrownBy(() -> container(bad))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(Labels.BLOB_SIZE);
    Map<String, String> emptyRef = remoteLabels();
    emptyRef.put(Labels.SNAPSHOT_REF, "");
    assertThatThrownBy(() -> container(emptyRef))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("label " + Labels.SNAPSHOT_REF + " is empty");
  }

  @Test
  void storedLabelsAreTheGivenOnesWithoutEmptyValues() {
    Map<String, String> given = new HashMap<>(remoteLabels());
    given.put("containerd.io/gc.root", "");
    given.put(Labels.WRITABLE, "dir");
    Map<String, String> expected = new HashMap<>(given);
    expected.remove("containerd.io/gc.root");
    assertThat(container(given).stored()).isEqualTo(expected);
    assertThat(PrepareLabels.storable(given)).isEqualTo(expected);
  }

  @Test
  void labelsBreakingTheRulesAreRefusedByBothParseAndStorable() {
    Map<String, String> badFs = Map.of(Labels.BLOB_FS_TYPE, "ext4;exec");
    assertThatThrownBy(() -> container(badFs))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("\"exec\" is not allowed for ext4");
    assertThatThrownBy(() -> PrepareLabels.storable(badFs))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("\"exec\" is not allowed for ext4");
    assertThatThrownBy(() -> container(Map.of("", "v")))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("label key must not be empty");
  }

  @Test
  void writableModeFsTypeAndSizeAreRead() {
    assertThat(container(Map.of()).writable()).isEmpty();
    assertThat(container(Map.of(Labels.WRITABLE, "")).writable()).isEmpty();
    assertThat(container(Map.of(Labels.WRITABLE, "dir")).writable()).contains(RwMode.DIR);
    assertThat(container(Map.of(Labels.WRITABLE, "dev")).writable()).contains(RwMode.DEV);
    assertThat(container(Map.of(Labels.WRITABLE, "yes")).writable()).contains(RwMode.OVERLAYFS);
    assertThat(container(Map.of()).fsType()).isEmpty();
    assertThat(container(Map.of(Labels.BLOB_FS_TYPE, "xfs")).fsType())
        .contains(BlobFsType.defaults("xfs"));
    assertThat(container(Map.of()).vsizeGb()).isEqualTo(PrepareLabels.DEFAULT_VSIZE_GB);
    assertThat(container(Map.of(Labels.VSIZE, "10")).vsizeGb()).isEqualTo(10);
    assertThat(container(Map.of(Labels.VSIZE, "ten")).vsizeGb()).isEqualTo(64);
    assertThat(container(Map.of(Labels.VSIZE, "0")).vsizeGb()).isEqualTo(64);
  }

  @Test
  void onlyRecordTraceYesWithAPathAsksForAFile(@TempDir Path base) throws IOException {
    Path dir = base.resolve("root/record-trace");
    TraceDirectory traces = TraceDirectory.open(dir);
    Path trace = Files.createFile(dir.resolve("t"));
    assertThat(container(Map.of(Labels.RECORD_TRACE_PATH, "/etc/shadow")).recordTracePath())
        .isEmpty();
    assertThat(container(Map.of(Labels.RECORD_TRACE, "yes")).recordTracePath()).isEmpty();
    assertThat(
            container(Map.of(Labels.RECORD_TRACE, "yes", Labels.RECORD_TRACE_PATH, ""))
                .recordTracePath())
        .isEmpty();
    Optional<String> asked =
        container(Map.of(Labels.RECORD_TRACE, "yes", Labels.RECORD_TRACE_PATH, trace.toString()))
            .recordTracePath();
    assertThat(asked.map(p -> traces.resolve(p).toString()))
        .contains(trace.toRealPath().toString());
    String outside =
        container(Map.of(Labels.RECORD_TRACE, "yes", Labels.RECORD_TRACE_PATH, "/etc/shadow"))
            .recordTracePath()
            .orElseThrow();
    assertThatThrownBy(() -> traces.resolve(outside)).isInstanceOf(InvalidArgumentException.class);
  }
}
