package dev.obd.snapshotter.storage;

import java.util.AbstractMap;
import java.util.Map;
import java.util.Set;

/**
 * The labels of a snapshot that the in-memory index does not hold, because holding them would take
 * the index over its memory budget: read from the database each time they are used. This keeps the
 * daemon's memory bounded whatever containerd (or an image's annotations) put into labels, at the
 * cost of a database read for the snapshots beyond the budget.
 *
 * <p>One label stays in memory all the same: {@value #SNAPSHOT_REF}, by which containerd's unpacker
 * filters a List on every layer it pulls, so that such a List never reads the database.
 *
 * <p>Thread-safe.
 */
final class SpilledLabels extends AbstractMap<String, String> {
  /** The label kept in memory: the chain id containerd's unpacker looks layers up by. */
  static final String SNAPSHOT_REF = "containerd.io/snapshot.ref";

  /** Reads the labels stored for a snapshot id; an empty map when the snapshot is gone. */
  interface Loader {
    Map<String, String> load(long id);
  }

  private final long id;
  private final Loader loader;
  private final String snapshotRef; // null when the snapshot has no such label

  SpilledLabels(long id, Loader loader, String snapshotRef) {
    this.id = id;
    this.loader = loader;
    this.snapshotRef = snapshotRef;
  }

  @Override
  public Set<Entry<String, String>> entrySet() {
    return loader.load(id).entrySet();
  }

  @Override
  public String get(Object key) {
    return SNAPSHOT_REF.equals(key) ? snapshotRef : loader.load(id).get(key);
  }

  @Override
  public boolean containsKey(Object key) {
    return SNAPSHOT_REF.equals(key) ? snapshotRef != null : loader.load(id).containsKey(key);
  }

  @Override
  public boolean isEmpty() {
    return snapshotRef == null && loader.load(id).isEmpty();
  }

  @Override
  public int size() {
    return loader.load(id).size();
  }
}
