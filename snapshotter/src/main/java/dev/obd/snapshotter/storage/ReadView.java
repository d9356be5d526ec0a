package dev.obd.snapshotter.storage;

import dev.obd.snapshotter.errdefs.NotFoundException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * A consistent view of the metadata, valid only inside the {@link MetaStore#read} or {@link
 * MetaStore#write} call that handed it out.
 */
public interface ReadView {

  Optional<SnapshotRecord> get(String key);

  Optional<SnapshotRecord> byId(long id);

  /** Whether any snapshot has {@code id} as its parent. */
  boolean hasChildren(long id);

  /** All snapshots, in no particular order. */
  Collection<SnapshotRecord> all();

  /** The ids of all snapshots, ascending: a stable order to go through them in batches. */
  default long[] ids() {
    return all().stream().mapToLong(SnapshotRecord::id).sorted().toArray();
  }

  /** Devices whose detach failed and is being retried. */
  Collection<PendingDetach> pendingDetaches();

  /** The pending detach of the device attached for snapshot id {@code id}, if any. */
  Optional<PendingDetach> pendingDetach(long id);

  default SnapshotRecord require(String key) {
    return get(key).orElseThrow(() -> new NotFoundException("snapshot " + key + " does not exist"));
  }

  /** The key of the parent of {@code record}, or "" when it has none. */
  default String parentKey(SnapshotRecord record) {
    return record.hasParent() ? parentOf(record).key() : "";
  }

  /** The ids of the ancestors of {@code record}, nearest first. */
  default List<Long> ancestorIds(SnapshotRecord record) {
    List<Long> ids = new ArrayList<>();
    SnapshotRecord current = record;
    while (current.hasParent()) {
      current = parentOf(current);
      ids.add(current.id());
    }
    return ids;
  }

  private SnapshotRecord parentOf(SnapshotRecord record) {
    return byId(record.parentId())
        .orElseThrow(
            () ->
                new IllegalStateException(
                    "metadata inconsistent: parent "
                        + record.parentId()
                        + " of "
                        + record.key()
                        + " is missing"));
  }
}
