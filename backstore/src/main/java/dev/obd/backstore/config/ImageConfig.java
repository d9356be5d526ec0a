package dev.obd.backstore.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * One device's {@code config.v1.json} as upstream's snapshotter writes it (keys and defaults of
 * overlaybd's ImageConfig; unknown keys ignored, as upstream does). Immutable once parsed.
 *
 * <p>This is the backstore's private reading of the file until the shared model in {@code
 * dev.obd.image.config} exists; it covers only the keys the backstore acts on.
 *
 * @param repoBlobUrl base URL of the blobs, {@code https://host/v2/repo/blobs}
 * @param lowers layers, index 0 = bottom
 * @param upper writable layer files, or both empty for a read-only device
 * @param resultFile where "success" or "failed:&lt;reason&gt;" is written after an attach attempt
 * @param download per-image background download settings, or null for the daemon's
 * @param accelerationLayer the last lower is a trace layer, replayed and not stacked
 * @param recordTracePath trace to record (empty file) or replay (non-empty)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record ImageConfig(
    @JsonProperty("repoBlobUrl") String repoBlobUrl,
    @JsonProperty("lowers") List<Lower> lowers,
    @JsonProperty("upper") Upper upper,
    @JsonProperty("resultFile") String resultFile,
    @JsonProperty("download") DownloadConfig download,
    @JsonProperty("accelerationLayer") boolean accelerationLayer,
    @JsonProperty("recordTracePath") String recordTracePath) {

  private static final ObjectMapper JSON =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, false);

  public ImageConfig {
    repoBlobUrl = repoBlobUrl == null ? "" : repoBlobUrl;
    lowers = lowers == null ? List.of() : List.copyOf(lowers);
    upper = upper == null ? new Upper("", "") : upper;
    resultFile = resultFile == null ? "" : resultFile;
    recordTracePath = recordTracePath == null ? "" : recordTracePath;
    if (lowers.isEmpty()) {
      throw new IllegalArgumentException("config has no lowers");
    }
    if (lowers.size() > 255) {
      throw new IllegalArgumentException("config has " + lowers.size() + " lowers; at most 255");
    }
    if (accelerationLayer && !recordTracePath.isEmpty()) {
      throw new IllegalArgumentException(
          "accelerationLayer and recordTracePath cannot be combined");
    }
    for (int i = 0; i < lowers.size(); i++) {
      Lower l = lowers.get(i);
      if (l.file().isEmpty() && l.dir().isEmpty() && l.digest().isEmpty()) {
        throw new IllegalArgumentException("lowers[" + i + "] names no file, dir or digest");
      }
    }
  }

  /** Reads and validates {@code file}. */
  public static ImageConfig read(Path file) throws IOException {
    try {
      return JSON.readValue(Files.readAllBytes(file), ImageConfig.class);
    } catch (IllegalArgumentException e) {
      throw new IOException("config " + file + ": " + e.getMessage(), e);
    } catch (com.fasterxml.jackson.databind.exc.ValueInstantiationException e) {
      throw new IOException(
          "config "
              + file
              + ": "
              + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()),
          e);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new IOException("config " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
    }
  }

  /** Whether the device has a writable upper layer. */
  public boolean writable() {
    return !upper.index().isEmpty() && !upper.data().isEmpty();
  }

  /** A lower layer: a local file, a layer directory, or a registry blob. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Lower(
      @JsonProperty("file") String file,
      @JsonProperty("dir") String dir,
      @JsonProperty("digest") String digest,
      @JsonProperty("size") long size) {
    public Lower {
      file = file == null ? "" : file;
      dir = dir == null ? "" : dir;
      digest = digest == null ? "" : digest;
      if (size < 0) {
        throw new IllegalArgumentException("negative layer size " + size);
      }
    }
  }

  /** The writable layer's two files (append-only data and index). */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Upper(@JsonProperty("index") String index, @JsonProperty("data") String data) {
    public Upper {
      index = index == null ? "" : index;
      data = data == null ? "" : data;
    }
  }
}
