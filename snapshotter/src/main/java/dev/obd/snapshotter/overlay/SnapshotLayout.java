package dev.obd.snapshotter.overlay;

import java.nio.file.Path;

/**
 * Where a snapshot's files live: {@code <root>/snapshots/<id>/fs} (its overlayfs upper or lower
 * directory) and {@code <root>/snapshots/<id>/work} (the overlayfs work directory of an active
 * snapshot). The same layout as containerd's overlayfs snapshotter and upstream's.
 */
public record SnapshotLayout(Path root) {

  public Path metadataFile() {
    return root.resolve("metadata.sqlite");
  }

  public Path snapshotsDir() {
    return root.resolve("snapshots");
  }

  public Path dir(long id) {
    return snapshotsDir().resolve(Long.toString(id));
  }

  public Path fs(long id) {
    return dir(id).resolve("fs");
  }

  public Path work(long id) {
    return dir(id).resolve("work");
  }

  /** Prefix of directories being built before they are renamed to their id. */
  static final String TEMP_PREFIX = "new-";
}
