package dev.obd.snapshotter.snapshots;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * Limits on a snapshot's labels: containerd's (a key and its value take at most 4096 bytes
 * together, keys are not empty) and ours, {@value #MAX_TOTAL_BYTES} bytes of keys and values per
 * snapshot. containerd limits only each label, so without ours a client could give one snapshot
 * thousands of maximal labels and every snapshot's labels are held in memory; CRI sends a few
 * hundred bytes per layer, far below it.
 */
public final class LabelRules {
  public static final int MAX_KEY_AND_VALUE_BYTES = 4096;

  /** Most bytes (UTF-8 keys plus values) the labels of one snapshot may take. */
  public static final int MAX_TOTAL_BYTES = 64 * 1024;

  private LabelRules() {}

  /**
   * Checks the labels a snapshot is to have (on Prepare, View, Commit, and the result of an
   * Update).
   *
   * @throws InvalidArgumentException naming the first label that is too large or has an empty key,
   *     or stating the total when all together are too large
   */
  public static void validate(Map<String, String> labels) {
    long total = 0;
    for (Map.Entry<String, String> e : labels.entrySet()) {
      String key = e.getKey();
      if (key.isEmpty()) {
        throw new InvalidArgumentException("label key must not be empty");
      }
      int size = utf8Length(key) + utf8Length(e.getValue());
      if (size > MAX_KEY_AND_VALUE_BYTES) {
        // containerd's message, with the key cut to 10 characters as containerd does
        throw new InvalidArgumentException(
            "label key and value greater than maximum size ("
                + MAX_KEY_AND_VALUE_BYTES
                + " bytes), key: "
                + (key.length() > 10 ? key.substring(0, 10) : key));
      }
      total += size;
    }
    if (total > MAX_TOTAL_BYTES) {
      throw new InvalidArgumentException(
          "labels take "
              + total
              + " bytes, more than the "
              + MAX_TOTAL_BYTES
              + " bytes a snapshot's labels may take together");
    }
  }

  private static int utf8Length(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }
}
