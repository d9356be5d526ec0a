package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The mounts of an ordinary (overlayfs) snapshot, exactly as containerd's overlayfs snapshotter
 * returns them:
 *
 * <ul>
 *   <li>no parent: a bind mount of its own {@code fs}, read-write (read-only for a view);
 *   <li>a view with exactly one parent: a read-only bind mount of the parent's {@code fs};
 *   <li>otherwise overlay: {@code workdir} and {@code upperdir} for an active snapshot, then {@code
 *       lowerdir} listing the ancestors' {@code fs}, nearest first, then the kernel options.
 * </ul>
 */
public final class MountPlanner {
  private final SnapshotLayout layout;
  private final List<String> overlayOptions;

  public MountPlanner(SnapshotLayout layout, List<String> overlayOptions) {
    this.layout = layout;
    this.overlayOptions = List.copyOf(overlayOptions);
  }

  public List<Mount> mounts(long id, Kind kind, List<Long> ancestorIds) {
    if (ancestorIds.isEmpty()) {
      return List.of(Mount.bind(layout.fs(id).toString(), kind == Kind.VIEW));
    }
    List<String> options = new ArrayList<>();
    if (kind == Kind.ACTIVE) {
      options.add("workdir=" + layout.work(id));
      options.add("upperdir=" + layout.fs(id));
    } else if (ancestorIds.size() == 1) {
      return List.of(Mount.bind(layout.fs(ancestorIds.get(0)).toString(), true));
    }
    options.add(
        "lowerdir="
            + ancestorIds.stream()
                .map(a -> layout.fs(a).toString())
                .collect(Collectors.joining(":")));
    options.addAll(overlayOptions);
    return List.of(new Mount("overlay", "overlay", options));
  }
}
