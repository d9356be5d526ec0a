package dev.obd.snapshotter.storage;

import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Usage;
import java.time.Instant;
import java.util.Map;
import java.util.Objects;

/**
 * Everything the metadata store knows about one snapshot. Immutable; a change produces a new
 * record.
 *
 * <p>Labels are held compactly ({@link StoredLabels}), or read from the database on access when the
 * index holds more labels than its memory budget allows.
 *
 * @param id numeric identifier, never reused; also the snapshot's directory name
 * @param key the active snapshot's key or the committed snapshot's name
 * @param parentId the parent's id, or 0 for none
 * @param usage disk usage recorded at commit (zero before)
 * @param storageType how the snapshot's data is stored
 * @param device the block device attached for this snapshot (the shared device of an OverlayBD
 *     image's top layer, or a container's own writable device), "" when none
 */
public record SnapshotRecord(
    long id,
    String key,
    long parentId,
    Kind kind,
    Map<String, String> labels,
    Instant created,
    Instant updated,
    Usage usage,
    StorageType storageType,
    String device) {

  public SnapshotRecord {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(kind, "kind");
    labels = labels instanceof SpilledLabels ? labels : StoredLabels.of(labels);
    Objects.requireNonNull(created, "created");
    Objects.requireNonNull(updated, "updated");
    Objects.requireNonNull(usage, "usage");
    Objects.requireNonNull(storageType, "storageType");
    Objects.requireNonNull(device, "device");
  }

  public boolean hasParent() {
    return parentId != 0;
  }

  SnapshotRecord withLabels(Map<String, String> newLabels, Instant when) {
    return new SnapshotRecord(
        id, key, parentId, kind, newLabels, created, when, usage, storageType, device);
  }

  /** This record with labels that are read from the database when used. */
  SnapshotRecord withLabelsOnDisk(SpilledLabels onDisk) {
    return new SnapshotRecord(
        id, key, parentId, kind, onDisk, created, updated, usage, storageType, device);
  }

  SnapshotRecord withStorage(StorageType newStorageType, String newDevice) {
    return new SnapshotRecord(
        id, key, parentId, kind, labels, created, updated, usage, newStorageType, newDevice);
  }
}
