package dev.obd.backstore.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Background full download of remote layers, with upstream's keys and defaults: after {@code delay}
 * + random({@code delayExtra}) seconds each remote blob is copied at most {@code maxMBps} into its
 * layer directory, digest-checked, and reads switch to the local copy.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record DownloadConfig(
    boolean enable, long delay, long delayExtra, long maxMBps, int tryCnt, int blockSize) {

  public static final DownloadConfig DEFAULT = new DownloadConfig(false, 300, 30, 100, 5, 262144);

  @JsonCreator
  static DownloadConfig of(
      @JsonProperty("enable") Boolean enable,
      @JsonProperty("delay") Long delay,
      @JsonProperty("delayExtra") Long delayExtra,
      @JsonProperty("maxMBps") Long maxMBps,
      @JsonProperty("tryCnt") Integer tryCnt,
      @JsonProperty("blockSize") Integer blockSize) {
    return new DownloadConfig(
        enable != null ? enable : DEFAULT.enable,
        delay != null ? delay : DEFAULT.delay,
        delayExtra != null ? delayExtra : DEFAULT.delayExtra,
        maxMBps != null ? maxMBps : DEFAULT.maxMBps,
        tryCnt != null ? tryCnt : DEFAULT.tryCnt,
        blockSize != null ? blockSize : DEFAULT.blockSize);
  }

  public DownloadConfig {
    if (delay < 0 || delayExtra < 0 || maxMBps <= 0 || tryCnt <= 0 || blockSize <= 0) {
      throw new IllegalArgumentException(
          "download settings must be positive (maxMBps, tryCnt, blockSize) and not negative"
              + " (delay, delayExtra)");
    }
  }
}
