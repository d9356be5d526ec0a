package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The mounts of a snapshot given the directories below it, exactly as containerd's overlayfs
 * snapshotter returns them:
 *
 * <ul>
 *   <li>nothing below: a bind mount of its own {@code fs}, read-write (read-only for a view);
 *   <li>a view on exactly one directory: a read-only bind mount of that directory;
 *   <li>otherwise overlay: {@code workdir} and {@code upperdir} for an active snapshot, then {@code
 *       lowerdir} listing the directories nearest first, then the kernel options.
 * </ul>
 *
 * The lower directories are the ancestors' {@code fs} for ordinary layers; an OverlayBD image
 * contributes the single mount point of its device's filesystem instead.
 */
public final class MountPlanner {
  private final SnapshotLayout layout;
  private final List<String> overlayOptions;

  public MountPlanner(SnapshotLayout layout, List<String> overlayOptions) {
    this.layout = layout;
    this.overlayOptions = List.copyOf(overlayOptions);
  }

  /** Mounts of ordinary snapshot {@code id} on ordinary ancestors (nearest first). */
  public List<Mount> mounts(long id, Kind kind, List<Long> ancestorIds) {
    return mountsOn(id, kind, ancestorIds.stream().map(layout::fs).toList());
  }

  /** Mounts of snapshot {@code id} on {@code lowerDirs} (nearest first). */
  public List<Mount> mountsOn(long id, Kind kind, List<Path> lowerDirs) {
    if (lowerDirs.isEmpty()) {
      return List.of(Mount.bind(layout.fs(id).toString(), kind == Kind.VIEW));
    }
    List<String> options = new ArrayList<>();
    if (kind == Kind.ACTIVE) {
      options.add("workdir=" + layout.work(id));
      options.add("upperdir=" + layout.fs(id));
    } else if (lowerDirs.size() == 1) {
      return List.of(Mount.bind(lowerDirs.get(0).toString(), true));
    }
    options.add(
        "lowerdir=" + lowerDirs.stream().map(Path::toString).collect(Collectors.joining(":")));
    options.addAll(overlayOptions);
    return List.of(new Mount("overlay", "overlay", options));
  }
}
