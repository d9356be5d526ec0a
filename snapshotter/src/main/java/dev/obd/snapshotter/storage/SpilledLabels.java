package dev.obd.snapshotter.storage;

import java.util.AbstractMap;
import java.util.Map;
import java.util.Set;

/**
 * The labels of a snapshot that the in-memory index does not hold, because holding them would take
 * the index over its memory budget: read from the database each time they are used. This keeps the
 * daemon's memory bounded whatever containerd (or an image's annotations) put into labels, at the
 * cost of a database read for the few snapshots beyond the budget. Thread-safe.
 */
final class SpilledLabels extends AbstractMap<String, String> {
  /** Reads the labels stored for a snapshot id; an empty map when the snapshot is gone. */
  interface Loader {
    Map<String, String> load(long id);
  }

  private final long id;
  private final Loader loader;

  SpilledLabels(long id, Loader loader) {
    this.id = id;
    this.loader = loader;
  }

  @Override
  public Set<Entry<String, String>> entrySet() {
    return loader.load(id).entrySet();
  }

  @Override
  public String get(Object key) {
    return loader.load(id).get(key);
  }

  @Override
  public boolean containsKey(Object key) {
    return loader.load(id).containsKey(key);
  }

  @Override
  public int size() {
    return loader.load(id).size();
  }
}
