package dev.obd.image.config;

import dev.obd.image.LayerFiles;
import dev.obd.image.oci.Digest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * One entry of {@code lowers} in config.v1.json (index 0 = bottom layer). Absent strings are {@code
 * ""} and an absent size is 0, as upstream's defaults are.
 *
 * @param gzipIndex turboOCI gzip index file
 * @param file local layer file (a blob, a ZFile or a raw LSMT file); tried first
 * @param digest registry blob digest ({@code sha256:...}) for a remote layer
 * @param targetFile turboOCI: local OCI layer tar
 * @param targetDigest turboOCI: digest of the original OCI layer
 * @param size blob size in bytes (remote layer)
 * @param dir the layer directory; holds one of {@link LayerFiles#IN_LAYER_DIR} once local, and is
 *     the background download target
 */
public record LowerConfig(
    String gzipIndex,
    String file,
    String digest,
    String targetFile,
    String targetDigest,
    long size,
    String dir) {

  public LowerConfig {
    gzipIndex = orEmpty(gzipIndex);
    file = orEmpty(file);
    digest = orEmpty(digest);
    targetFile = orEmpty(targetFile);
    targetDigest = orEmpty(targetDigest);
    dir = orEmpty(dir);
    if (size < 0) {
      throw new IllegalArgumentException("lower size " + size + " is negative");
    }
    checkDigest("digest", digest);
    checkDigest("targetDigest", targetDigest);
  }

  /** A local layer file: {@code {"file": path}}, as the convertor writes. */
  public static LowerConfig ofFile(String file) {
    return new LowerConfig("", file, "", "", "", 0, "");
  }

  /** A local layer directory: {@code {"dir": path}}. */
  public static LowerConfig ofDir(String dir) {
    return new LowerConfig("", "", "", "", "", 0, dir);
  }

  /** A remote layer: {@code {"digest", "size", "dir"}}, as the snapshotter writes. */
  public static LowerConfig remote(String digest, long size, String dir) {
    return new LowerConfig("", "", digest, "", "", size, dir);
  }

  /**
   * The local file overlaybd opens for this layer: {@link #file} whenever it is set (a missing file
   * is then an error of the open, not a reason to look elsewhere), else the first of {@link
   * LayerFiles#IN_LAYER_DIR} present in {@link #dir}; empty when the layer is only remote.
   */
  public Optional<Path> resolveLocalFile() {
    if (!file.isEmpty()) {
      return Optional.of(Path.of(file));
    }
    if (!dir.isEmpty()) {
      for (String name : LayerFiles.IN_LAYER_DIR) {
        Path p = Path.of(dir, name);
        if (Files.isRegularFile(p)) {
          return Optional.of(p);
        }
      }
    }
    return Optional.empty();
  }

  static String orEmpty(String s) {
    return s == null ? "" : s;
  }

  static void checkDigest(String field, String value) {
    if (value.isEmpty()) {
      return;
    }
    int colon = value.indexOf(':');
    if (colon <= 0 || colon == value.length() - 1) {
      throw new IllegalArgumentException(
          field + " \"" + value + "\" is not of the form algorithm:hex");
    }
    if (value.startsWith("sha256:") && !Digest.isValid(value)) {
      throw new IllegalArgumentException(
          field + " \"" + value + "\" is not a sha256 digest (64 lower-case hex digits)");
    }
  }
}
