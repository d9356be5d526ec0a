package dev.obd.snapshotter.snapshots;

import dev.obd.snapshotter.errdefs.SnapshotterException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * containerd's snapshotter contract. Keys and names share one namespace; a parent must be a
 * committed snapshot. Every method is thread-safe and reports failures as {@link
 * SnapshotterException} subclasses whose kind is what containerd expects for that failure.
 */
public interface Snapshotter extends AutoCloseable {

  /** Creates the active snapshot {@code key} on top of {@code parent} ("" for none). */
  List<Mount> prepare(String key, String parent, Map<String, String> labels);

  /** Creates the read-only view {@code key} of {@code parent} ("" for none). */
  List<Mount> view(String key, String parent, Map<String, String> labels);

  /** The mounts of an existing active snapshot or view. */
  List<Mount> mounts(String key);

  /**
   * Commits the active snapshot {@code key} as {@code name}; {@code labels} replace its labels.
   * {@code parent}, when not empty, rebases a snapshot that was prepared without a parent.
   */
  void commit(String name, String key, Map<String, String> labels, String parent);

  /** Removes a snapshot that has no children. */
  void remove(String key);

  Info stat(String key);

  /**
   * Updates the labels of a snapshot. {@code fieldPaths} may name {@code labels} (replace all) or
   * {@code labels.<key>} (set or delete one); when empty, all labels are replaced.
   */
  Info update(Info info, List<String> fieldPaths);

  /**
   * The snapshots matching any of {@code filters} (all when empty), batch by batch: each {@code
   * next()} reads one bounded batch, so that a walk holds little memory whatever the store holds,
   * and a caller may stop or pause between batches. Batches are never empty. A snapshot removed
   * before its batch is read is left out, one created after the walk began is not seen.
   *
   * @throws dev.obd.snapshotter.errdefs.InvalidArgumentException at once for a malformed filter
   */
  Iterator<List<Info>> walk(List<String> filters);

  /** Calls {@code consumer} for each snapshot matching any of {@code filters} (all when empty). */
  default void walk(List<String> filters, Consumer<Info> consumer) {
    walk(filters).forEachRemaining(batch -> batch.forEach(consumer));
  }

  Usage usage(String key);

  /** How many snapshots of each kind exist (for metrics). */
  default Map<Kind, Long> countByKind() {
    Map<Kind, Long> counts = new java.util.EnumMap<>(Kind.class);
    walk(List.of(), info -> counts.merge(info.kind(), 1L, Long::sum));
    return counts;
  }

  /** Deletes on-disk data that no snapshot references any more. */
  void cleanup();

  /** Releases the metadata store. Idempotent. */
  @Override
  void close();
}
