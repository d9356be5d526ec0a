package dev.obd.snapshotter.storage;

import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Usage;
import java.util.Map;

/**
 * One write transaction. Changes become visible to readers, and durable, only when the function
 * passed to {@link MetaStore#write} returns; if it throws, none of them happen and the rollback
 * actions run. The checks and error kinds are those of containerd's metadata store.
 */
public interface WriteTx extends ReadView {

  /**
   * Records a new active snapshot or view.
   *
   * @throws dev.obd.snapshotter.errdefs.NotFoundException if {@code parent} does not exist
   * @throws dev.obd.snapshotter.errdefs.InvalidArgumentException if {@code parent} is not committed
   * @throws dev.obd.snapshotter.errdefs.AlreadyExistsException if {@code key} is taken
   */
  SnapshotRecord create(Kind kind, String key, String parent, Map<String, String> labels);

  /**
   * Turns the active snapshot {@code key} into the committed snapshot {@code name}, keeping its id.
   * Labels are replaced, not merged. A non-empty {@code parent} sets the parent of a snapshot that
   * had none.
   */
  SnapshotRecord commitActive(
      String key, String name, Usage usage, Map<String, String> labels, String parent);

  /**
   * Deletes the record of {@code key}.
   *
   * @throws dev.obd.snapshotter.errdefs.FailedPreconditionException if it has children
   */
  SnapshotRecord remove(String key);

  /** Replaces the labels of {@code key} and sets its update time to now. */
  SnapshotRecord setLabels(String key, Map<String, String> labels);

  /**
   * Records how {@code key}'s data is stored and which block device, if any ("" for none), is
   * attached for it. The update time does not change: this is the snapshotter's own state.
   */
  SnapshotRecord setStorage(String key, StorageType storageType, String device);

  /** Records (or replaces) a device whose detach failed, to be retried. */
  void putPendingDetach(PendingDetach pending);

  /** Forgets the pending detach of snapshot id {@code id}: it succeeded or is moot. */
  void removePendingDetach(long id);

  /** Runs {@code action} if the transaction does not commit (to undo file system changes). */
  void onRollback(Runnable action);
}
