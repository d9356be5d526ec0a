package dev.obd.snapshotter.storage;

import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The committed metadata held in memory, so that reads never touch the database. Not thread-safe:
 * {@link MetaStore} guards it with its read-write lock.
 */
final class Index implements ReadView {
  private final Map<String, SnapshotRecord> byKey = new HashMap<>();
  private final Map<Long, SnapshotRecord> byId = new HashMap<>();
  private final Map<Long, Integer> childCounts = new HashMap<>();

  @Override
  public Optional<SnapshotRecord> get(String key) {
    return Optional.ofNullable(byKey.get(key));
  }

  @Override
  public Optional<SnapshotRecord> byId(long id) {
    return Optional.ofNullable(byId.get(id));
  }

  @Override
  public boolean hasChildren(long id) {
    return childCount(id) > 0;
  }

  int childCount(long id) {
    return childCounts.getOrDefault(id, 0);
  }

  @Override
  public Collection<SnapshotRecord> all() {
    return Collections.unmodifiableCollection(byId.values());
  }

  void put(SnapshotRecord record) {
    SnapshotRecord old = byId.put(record.id(), record);
    if (old != null && !old.key().equals(record.key())) {
      byKey.remove(old.key());
    }
    byKey.put(record.key(), record);
    adjustChildCounts(childCounts, old, record);
  }

  void remove(long id) {
    SnapshotRecord old = byId.remove(id);
    if (old != null) {
      byKey.remove(old.key());
      adjustChildCounts(childCounts, old, null);
    }
  }

  /** Moves the child count of a parent when a record appears, changes parent or disappears. */
  static void adjustChildCounts(
      Map<Long, Integer> counts, SnapshotRecord before, SnapshotRecord after) {
    long oldParent = before == null ? 0 : before.parentId();
    long newParent = after == null ? 0 : after.parentId();
    if (oldParent == newParent) {
      return;
    }
    if (oldParent != 0) {
      counts.merge(oldParent, -1, Integer::sum);
    }
    if (newParent != 0) {
      counts.merge(newParent, 1, Integer::sum);
    }
  }
}
