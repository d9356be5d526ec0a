package dev.obd.image.config;

import java.util.List;
import java.util.Optional;

/**
 * A device's {@code config.v1.json}: the image's layers (bottom first), the optional writable upper
 * layer and the backstore's options, with upstream's keys. The snapshotter writes it, the backstore
 * and {@code obdctl extract --config} read it; see {@link ImageConfigJson} for the JSON form.
 *
 * @param repoBlobUrl base blob URL {@code https://<host>/v2/<repo>/blobs}; required when a lower is
 *     remote
 * @param lowers the layers, index 0 = bottom
 * @param upper the writable layer, {@link UpperConfig#NONE} when read-only
 * @param resultFile where the backstore writes "success" or "failed:&lt;reason&gt;"
 * @param accelerationLayer the last lower is a trace layer (not stacked, replayed)
 * @param recordTracePath trace record/replay path
 * @param download per-image background download settings; empty = the daemon's defaults
 */
public record ImageConfig(
    String repoBlobUrl,
    List<LowerConfig> lowers,
    UpperConfig upper,
    String resultFile,
    boolean accelerationLayer,
    String recordTracePath,
    Optional<DownloadConfig> download) {

  /** Upstream's limit on lower layers. */
  public static final int MAX_LOWERS = 255;

  public ImageConfig {
    repoBlobUrl = LowerConfig.orEmpty(repoBlobUrl);
    lowers = lowers == null ? List.of() : List.copyOf(lowers);
    upper = upper == null ? UpperConfig.NONE : upper;
    resultFile = LowerConfig.orEmpty(resultFile);
    recordTracePath = LowerConfig.orEmpty(recordTracePath);
    download = download == null ? Optional.empty() : download;
    if (lowers.size() > MAX_LOWERS) {
      throw new IllegalArgumentException(
          lowers.size() + " lowers exceed the limit of " + MAX_LOWERS);
    }
    if (accelerationLayer && !recordTracePath.isEmpty()) {
      throw new IllegalArgumentException(
          "accelerationLayer and recordTracePath cannot be combined (overlaybd refuses it)");
    }
  }

  /** A read-only image of {@code lowers}. */
  public static ImageConfig of(String repoBlobUrl, List<LowerConfig> lowers, String resultFile) {
    return new ImageConfig(
        repoBlobUrl, lowers, UpperConfig.NONE, resultFile, false, "", Optional.empty());
  }

  /** This config with {@code upper} as writable layer. */
  public ImageConfig withUpper(UpperConfig newUpper) {
    return new ImageConfig(
        repoBlobUrl, lowers, newUpper, resultFile, accelerationLayer, recordTracePath, download);
  }

  /** This config writing its result to {@code newResultFile}. */
  public ImageConfig withResultFile(String newResultFile) {
    return new ImageConfig(
        repoBlobUrl, lowers, upper, newResultFile, accelerationLayer, recordTracePath, download);
  }

  /**
   * This config with other prefetch settings: replay the trace in the acceleration layer, or record
   * into (or replay from) {@code newRecordTracePath}, or neither ({@code false, ""}).
   *
   * @throws IllegalArgumentException when both are asked for (overlaybd refuses it)
   */
  public ImageConfig withPrefetch(boolean newAccelerationLayer, String newRecordTracePath) {
    return new ImageConfig(
        repoBlobUrl, lowers, upper, resultFile, newAccelerationLayer, newRecordTracePath, download);
  }

  /** This config with one more lower layer on top. */
  public ImageConfig plusLower(LowerConfig top) {
    List<LowerConfig> more = new java.util.ArrayList<>(lowers);
    more.add(top);
    return new ImageConfig(
        repoBlobUrl, more, upper, resultFile, accelerationLayer, recordTracePath, download);
  }
}
