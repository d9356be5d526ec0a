package dev.obd.snapshotter.overlay;

import java.nio.file.Path;

/**
 * Where a snapshot's files live: {@code <root>/snapshots/<id>/fs} (its overlayfs upper or lower
 * directory), {@code <root>/snapshots/<id>/work} (the overlayfs work directory of an active
 * snapshot), and for OverlayBD layers {@code <root>/snapshots/<id>/block}: the device's {@code
 * config.v1.json}, the backstore's {@code init-debug.log}, the {@code mountpoint} of its filesystem
 * and {@code backstore_mark} (the device path). The same layout as containerd's overlayfs
 * snapshotter and upstream's overlaybd-snapshotter.
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

  public Path block(long id) {
    return dir(id).resolve("block");
  }

  public Path config(long id) {
    return block(id).resolve("config.v1.json");
  }

  public Path resultFile(long id) {
    return block(id).resolve("init-debug.log");
  }

  public Path mountpoint(long id) {
    return block(id).resolve("mountpoint");
  }

  public Path backstoreMark(long id) {
    return block(id).resolve("backstore_mark");
  }

  /** Prefix of directories being built before they are renamed to their id. */
  static final String TEMP_PREFIX = "new-";
}
