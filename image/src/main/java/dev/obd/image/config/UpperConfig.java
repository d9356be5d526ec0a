package dev.obd.image.config;

/**
 * The {@code upper} object of config.v1.json: the writable layer's files. A device is read-only
 * unless both {@link #index} and {@link #data} are set.
 *
 * @param index the writable layer's index log ({@code writable_index})
 * @param data the writable layer's data file ({@code writable_data})
 * @param target turboOCI conversion target
 * @param gzipIndex turboOCI gzip index
 * @param vsize virtual size in GiB; written by the Go snapshotter for parentless writable devices,
 *     ignored by overlaybd
 */
public record UpperConfig(String index, String data, String target, String gzipIndex, int vsize) {
  /** No upper layer: {@code {}}. */
  public static final UpperConfig NONE = new UpperConfig("", "", "", "", 0);

  public UpperConfig {
    index = LowerConfig.orEmpty(index);
    data = LowerConfig.orEmpty(data);
    target = LowerConfig.orEmpty(target);
    gzipIndex = LowerConfig.orEmpty(gzipIndex);
    if (vsize < 0) {
      throw new IllegalArgumentException("upper vsize " + vsize + " is negative");
    }
  }

  /** A writable layer from its two files. */
  public static UpperConfig writable(String index, String data, int vsizeGb) {
    return new UpperConfig(index, data, "", "", vsizeGb);
  }

  /** Whether the device gets a writable layer. */
  public boolean isWritable() {
    return !index.isEmpty() && !data.isEmpty();
  }
}
