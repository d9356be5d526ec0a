package dev.obd.snapshotter.storage;

import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The committed metadata held in memory, so that reads never wait for the database. Not
 * thread-safe: {@link MetaStore} guards it with its read-write lock.
 *
 * <p>Memory is bounded by design: labels are kept compactly, and only up to {@code labelBudget}
 * bytes in all; the labels of snapshots beyond that are read from the database when used ({@link
 * SpilledLabels}). What else a record takes is small and fixed (a few hundred bytes with its key),
 * so a store of 100,000 snapshots fits a small heap whatever their labels hold.
 */
final class Index implements ReadView {
  private final Map<String, SnapshotRecord> byKey = new HashMap<>();
  private final Map<Long, SnapshotRecord> byId = new HashMap<>();
  private final Map<Long, Integer> childCounts = new HashMap<>();
  private final Map<Long, PendingDetach> pending = new HashMap<>();
  private final long labelBudget;
  private final SpilledLabels.Loader loader;
  private long labelBytes;

  /**
   * @param labelBudget how many bytes of labels to hold in memory at most
   * @param loader reads the labels of a snapshot beyond the budget from the database
   */
  Index(long labelBudget, SpilledLabels.Loader loader) {
    this.labelBudget = labelBudget;
    this.loader = loader;
  }

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

  @Override
  public long[] ids() {
    long[] ids = new long[byId.size()];
    int i = 0;
    for (long id : byId.keySet()) {
      ids[i++] = id;
    }
    Arrays.sort(ids);
    return ids;
  }

  @Override
  public Collection<PendingDetach> pendingDetaches() {
    return Collections.unmodifiableCollection(pending.values());
  }

  @Override
  public Optional<PendingDetach> pendingDetach(long id) {
    return Optional.ofNullable(pending.get(id));
  }

  /** Whether labels of {@code bytes} more would still fit the budget. */
  boolean hasRoomForLabels(long bytes) {
    return labelBytes + bytes <= labelBudget;
  }

  /** Bytes of labels held in memory now. */
  long labelBytes() {
    return labelBytes;
  }

  void put(SnapshotRecord record) {
    SnapshotRecord kept = record;
    if (record.labels() instanceof StoredLabels labels) {
      if (!hasRoomForLabels(labels.heapBytes() - heldBytes(byId.get(record.id())))) {
        kept =
            record.withLabelsOnDisk(
                new SpilledLabels(record.id(), loader, labels.get(SpilledLabels.SNAPSHOT_REF)));
      }
    }
    SnapshotRecord old = byId.put(kept.id(), kept);
    labelBytes += heldBytes(kept) - heldBytes(old);
    if (old != null && !old.key().equals(kept.key())) {
      byKey.remove(old.key());
    }
    byKey.put(kept.key(), kept);
    adjustChildCounts(childCounts, old, kept);
  }

  void remove(long id) {
    SnapshotRecord old = byId.remove(id);
    if (old != null) {
      labelBytes -= heldBytes(old);
      byKey.remove(old.key());
      adjustChildCounts(childCounts, old, null);
    }
  }

  void putPending(PendingDetach p) {
    pending.put(p.id(), p);
  }

  void removePending(long id) {
    pending.remove(id);
  }

  private static long heldBytes(SnapshotRecord r) {
    return r != null && r.labels() instanceof StoredLabels labels ? labels.heapBytes() : 0;
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
      counts.merge(oldParent, -1, Index::sumOrNone);
    }
    if (newParent != 0) {
      counts.merge(newParent, 1, Index::sumOrNone);
    }
  }

  /** Sums two counts; a zero sum removes the entry, so that no map keeps zeros around. */
  private static Integer sumOrNone(Integer a, Integer b) {
    int sum = a + b;
    return sum == 0 ? null : sum;
  }
}
