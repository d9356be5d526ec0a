package dev.obd.snapshotter.storage;

import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Usage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A write transaction: reads see the committed index plus this transaction's own changes, and every
 * change is written to the database at once (inside the open SQL transaction) and kept here until
 * {@link MetaStore} publishes it to the index after COMMIT. Confined to the writing thread.
 */
final class Transaction implements WriteTx {
  private final Index committed;
  private final Database db;
  private final Clock clock;
  private long nextId;

  private final Map<Long, SnapshotRecord> changed = new LinkedHashMap<>();
  private final Set<Long> deleted = new HashSet<>();
  private final Map<String, Long> keyToId = new HashMap<>();
  private final Set<String> hiddenKeys = new HashSet<>();
  private final Map<Long, Integer> childDelta = new HashMap<>();
  private final List<Runnable> rollbackActions = new ArrayList<>();

  /** Pending detaches this transaction put (a value) or removed (null). */
  private final Map<Long, PendingDetach> pendingChanges = new HashMap<>();

  /** Source of timestamps, so that all changes of one transaction can share a clock. */
  interface Clock {
    Instant now();
  }

  Transaction(Index committed, Database db, long nextId, Clock clock) {
    this.committed = committed;
    this.db = db;
    this.nextId = nextId;
    this.clock = clock;
  }

  long nextId() {
    return nextId;
  }

  @Override
  public Optional<SnapshotRecord> get(String key) {
    Long id = keyToId.get(key);
    if (id != null) {
      return Optional.of(changed.get(id));
    }
    if (hiddenKeys.contains(key)) {
      return Optional.empty();
    }
    return committed.get(key);
  }

  @Override
  public Optional<SnapshotRecord> byId(long id) {
    if (deleted.contains(id)) {
      return Optional.empty();
    }
    SnapshotRecord r = changed.get(id);
    return r != null ? Optional.of(r) : committed.byId(id);
  }

  @Override
  public boolean hasChildren(long id) {
    return committed.childCount(id) + childDelta.getOrDefault(id, 0) > 0;
  }

  @Override
  public Collection<SnapshotRecord> all() {
    Map<Long, SnapshotRecord> merged = new HashMap<>();
    for (SnapshotRecord r : committed.all()) {
      merged.put(r.id(), r);
    }
    merged.putAll(changed);
    deleted.forEach(merged::remove);
    return merged.values();
  }

  @Override
  public Collection<PendingDetach> pendingDetaches() {
    Map<Long, PendingDetach> merged = new HashMap<>();
    for (PendingDetach p : committed.pendingDetaches()) {
      merged.put(p.id(), p);
    }
    pendingChanges.forEach(
        (id, p) -> {
          if (p == null) {
            merged.remove(id);
          } else {
            merged.put(id, p);
          }
        });
    return merged.values();
  }

  @Override
  public Optional<PendingDetach> pendingDetach(long id) {
    if (pendingChanges.containsKey(id)) {
      return Optional.ofNullable(pendingChanges.get(id));
    }
    return committed.pendingDetach(id);
  }

  @Override
  public void putPendingDetach(PendingDetach pending) {
    db.upsertPending(pending);
    pendingChanges.put(pending.id(), pending);
  }

  @Override
  public void removePendingDetach(long id) {
    if (pendingDetach(id).isPresent()) {
      db.deletePending(id);
      pendingChanges.put(id, null);
    }
  }

  @Override
  public SnapshotRecord create(Kind kind, String key, String parent, Map<String, String> labels) {
    if (kind == Kind.COMMITTED) {
      throw new InvalidArgumentException(
          "snapshot type " + kind + " invalid; only active or view snapshots can be created");
    }
    long parentId = 0;
    if (!parent.isEmpty()) {
      SnapshotRecord p =
          get(parent).orElseThrow(() -> new NotFoundException("missing parent \"" + parent + "\""));
      if (p.kind() != Kind.COMMITTED) {
        throw new InvalidArgumentException("parent \"" + parent + "\" is not committed snapshot");
      }
      parentId = p.id();
    }
    if (get(key).isPresent()) {
      throw new AlreadyExistsException("snapshot " + key);
    }
    Instant now = clock.now();
    SnapshotRecord r =
        new SnapshotRecord(
            nextId++, key, parentId, kind, labels, now, now, Usage.ZERO, StorageType.NORMAL, "");
    return put(null, r);
  }

  @Override
  public SnapshotRecord commitActive(
      String key, String name, Usage usage, Map<String, String> labels, String parent) {
    if (get(name).isPresent()) {
      throw new AlreadyExistsException("committed snapshot " + name);
    }
    SnapshotRecord active =
        get(key)
            .orElseThrow(
                () -> new NotFoundException("failed to get active snapshot \"" + key + "\""));
    if (active.kind() != Kind.ACTIVE) {
      throw new FailedPreconditionException("snapshot \"" + key + "\" is not active");
    }
    long parentId = active.parentId();
    if (!parent.isEmpty()) {
      SnapshotRecord p =
          get(parent)
              .orElseThrow(
                  () ->
                      new NotFoundException(
                          "missing parent \"" + parent + "\" of snapshot \"" + key + "\""));
      if (active.hasParent() && active.parentId() != p.id()) {
        throw new InvalidArgumentException(
            "cannot change parent of active snapshot \"" + key + "\" on commit");
      }
      if (p.kind() != Kind.COMMITTED) {
        throw new FailedPreconditionException("parent \"" + parent + "\" is not committed");
      }
      parentId = p.id();
    }
    Instant now = clock.now();
    SnapshotRecord committedRecord =
        new SnapshotRecord(
            active.id(),
            name,
            parentId,
            Kind.COMMITTED,
            labels,
            now,
            now,
            usage,
            active.storageType(),
            active.device());
    return put(active, committedRecord);
  }

  @Override
  public SnapshotRecord remove(String key) {
    SnapshotRecord r = get(key).orElseThrow(() -> new NotFoundException("snapshot " + key));
    if (hasChildren(r.id())) {
      throw new FailedPreconditionException("cannot remove snapshot with child");
    }
    db.delete(r.id());
    changed.remove(r.id());
    keyToId.remove(key);
    hiddenKeys.add(key);
    deleted.add(r.id());
    Index.adjustChildCounts(childDelta, r, null);
    return r;
  }

  @Override
  public SnapshotRecord setLabels(String key, Map<String, String> labels) {
    SnapshotRecord r = require(key);
    return put(r, r.withLabels(labels, clock.now()));
  }

  @Override
  public SnapshotRecord setStorage(String key, StorageType storageType, String device) {
    SnapshotRecord r = require(key);
    return put(r, r.withStorage(storageType, device));
  }

  @Override
  public void onRollback(Runnable action) {
    rollbackActions.add(action);
  }

  private SnapshotRecord put(SnapshotRecord before, SnapshotRecord after) {
    db.upsert(after);
    if (before != null && !before.key().equals(after.key())) {
      keyToId.remove(before.key());
      hiddenKeys.add(before.key());
    }
    hiddenKeys.remove(after.key());
    keyToId.put(after.key(), after.id());
    changed.put(after.id(), after);
    Index.adjustChildCounts(childDelta, before, after);
    return after;
  }

  /** Publishes this transaction's changes to the index; called under the index write lock. */
  void publish(Index index) {
    deleted.forEach(index::remove);
    changed.values().forEach(index::put);
    pendingChanges.forEach(
        (id, p) -> {
          if (p == null) {
            index.removePending(id);
          } else {
            index.putPending(p);
          }
        });
  }

  void rolledBack() {
    for (int i = rollbackActions.size() - 1; i >= 0; i--) {
      rollbackActions.get(i).run();
    }
  }
}
