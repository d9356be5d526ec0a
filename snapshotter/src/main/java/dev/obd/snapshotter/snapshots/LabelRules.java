package dev.obd.snapshotter.snapshots;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** containerd's limits on labels: a key and its value take at most 4096 bytes together. */
public final class LabelRules {
  public static final int MAX_KEY_AND_VALUE_BYTES = 4096;

  private LabelRules() {}

  /**
   * @throws InvalidArgumentException naming the first label that is too large or has an empty key
   */
  public static void validate(Map<String, String> labels) {
    for (Map.Entry<String, String> e : labels.entrySet()) {
      String key = e.getKey();
      if (key.isEmpty()) {
        throw new InvalidArgumentException("label key must not be empty");
      }
      int size =
          key.getBytes(StandardCharsets.UTF_8).length
              + e.getValue().getBytes(StandardCharsets.UTF_8).length;
      if (size > MAX_KEY_AND_VALUE_BYTES) {
        throw new InvalidArgumentException(
            "label key and value greater than maximum size ("
                + MAX_KEY_AND_VALUE_BYTES
                + " bytes), key: "
                + (key.length() > 10 ? key.substring(0, 10) : key));
      }
    }
  }
}
