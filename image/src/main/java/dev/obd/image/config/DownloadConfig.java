package dev.obd.image.config;

/**
 * The per-image {@code download} object of config.v1.json: background download of remote layers
 * into their {@code dir}. Absent fields take overlaybd's defaults.
 *
 * @param enable whether to download in the background
 * @param delay seconds to wait before starting
 * @param delayExtra up to this many more seconds, chosen at random
 * @param maxMBps throughput cap
 * @param tryCnt attempts per layer
 * @param blockSize bytes per request
 */
public record DownloadConfig(
    boolean enable, int delay, int delayExtra, int maxMBps, int tryCnt, long blockSize) {

  /** overlaybd's defaults. */
  public static final DownloadConfig DEFAULTS = new DownloadConfig(false, 300, 30, 100, 5, 262144);

  public DownloadConfig {
    if (delay < 0 || delayExtra < 0 || maxMBps < 0 || tryCnt < 0 || blockSize < 0) {
      throw new IllegalArgumentException("download settings must not be negative");
    }
  }
}
