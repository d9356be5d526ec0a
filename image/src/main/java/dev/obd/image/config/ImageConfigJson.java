package dev.obd.image.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.configfile.BoundedJsonFile;
import dev.obd.image.ImageFormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads and writes config.v1.json. Reading tolerates unknown keys and missing ones (upstream's
 * defaults apply) but rejects a known key of the wrong type with a message naming it. Writing
 * produces exactly what the Go snapshotter's {@code json.Marshal} produces for the same values:
 * compact, upstream's key order, {@code repoBlobUrl}/{@code lowers}/{@code upper}/{@code
 * resultFile} always present, every other key omitted when empty, and Go's HTML-safe escaping. The
 * {@code download} object, which only the backstore reads, goes last.
 */
public final class ImageConfigJson {
  private static final ObjectMapper MAPPER = BoundedJsonFile.mapper(BoundedJsonFile.MAX_DEPTH);

  private ImageConfigJson() {}

  /**
   * Reads a config file: a regular file of at most {@link BoundedJsonFile#MAX_BYTES} bytes, as
   * every JSON file an operator or a tool writes.
   *
   * @throws ImageFormatException when it is not JSON or a known key has a bad value, naming the
   *     file and the key
   * @throws IOException when it cannot be read
   */
  public static ImageConfig read(Path file) throws IOException {
    byte[] bytes = BoundedJsonFile.read(file);
    try {
      return parse(new String(bytes, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new ImageFormatException("read image config " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Parses config JSON.
   *
   * @throws IllegalArgumentException when it is not JSON or a known key has the wrong type
   */
  public static ImageConfig parse(String json) {
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("the config is not a JSON object");
    }
    List<LowerConfig> lowers = new ArrayList<>();
    JsonNode ls = root.get("lowers");
    if (ls != null && !ls.isNull()) {
      if (!ls.isArray()) {
        throw new IllegalArgumentException("lowers: expected an array");
      }
      for (int i = 0; i < ls.size(); i++) {
        JsonNode l = ls.get(i);
        String at = "lowers[" + i + "]";
        if (!l.isObject()) {
          throw new IllegalArgumentException(at + ": expected an object");
        }
        try {
          lowers.add(
              new LowerConfig(
                  text(l, "gzipIndex", at),
                  text(l, "file", at),
                  text(l, "digest", at),
                  text(l, "targetFile", at),
                  text(l, "targetDigest", at),
                  number(l, "size", at, 0),
                  text(l, "dir", at)));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              e.getMessage().startsWith(at) ? e.getMessage() : at + ": " + e.getMessage(), e);
        }
      }
    }
    UpperConfig upper = UpperConfig.NONE;
    JsonNode u = root.get("upper");
    if (u != null && !u.isNull()) {
      if (!u.isObject()) {
        throw new IllegalArgumentException("upper: expected an object");
      }
      upper =
          new UpperConfig(
              text(u, "index", "upper"),
              text(u, "data", "upper"),
              text(u, "target", "upper"),
              text(u, "gzipIndex", "upper"),
              (int) number(u, "vsize", "upper", 0));
    }
    Optional<DownloadConfig> download = Optional.empty();
    JsonNode d = root.get("download");
    if (d != null && !d.isNull()) {
      if (!d.isObject()) {
        throw new IllegalArgumentException("download: expected an object");
      }
      DownloadConfig def = DownloadConfig.DEFAULTS;
      download =
          Optional.of(
              new DownloadConfig(
                  bool(d, "enable", "download", def.enable()),
                  (int) number(d, "delay", "download", def.delay()),
                  (int) number(d, "delayExtra", "download", def.delayExtra()),
                  (int) number(d, "maxMBps", "download", def.maxMBps()),
                  (int) number(d, "tryCnt", "download", def.tryCnt()),
                  number(d, "blockSize", "download", def.blockSize())));
    }
    return new ImageConfig(
        text(root, "repoBlobUrl", ""),
        lowers,
        upper,
        text(root, "resultFile", ""),
        bool(root, "accelerationLayer", "", false),
        text(root, "recordTracePath", ""),
        download);
  }

  /** The JSON text of {@code config}, as the Go snapshotter would write it. */
  public static String toJson(ImageConfig config) {
    StringBuilder b = new StringBuilder(256);
    b.append('{');
    key(b, "repoBlobUrl").append(quote(config.repoBlobUrl()));
    b.append(',');
    key(b, "lowers").append('[');
    for (int i = 0; i < config.lowers().size(); i++) {
      if (i > 0) {
        b.append(',');
      }
      LowerConfig l = config.lowers().get(i);
      Fields f = new Fields(b);
      f.text("gzipIndex", l.gzipIndex());
      f.text("file", l.file());
      f.text("digest", l.digest());
      f.text("targetFile", l.targetFile());
      f.text("targetDigest", l.targetDigest());
      f.number("size", l.size());
      f.text("dir", l.dir());
      f.end();
    }
    b.append("],");
    key(b, "upper");
    UpperConfig u = config.upper();
    Fields f = new Fields(b);
    f.text("index", u.index());
    f.text("data", u.data());
    f.text("target", u.target());
    f.text("gzipIndex", u.gzipIndex());
    f.number("vsize", u.vsize());
    f.end();
    b.append(',');
    key(b, "resultFile").append(quote(config.resultFile()));
    if (config.accelerationLayer()) {
      b.append(',');
      key(b, "accelerationLayer").append("true");
    }
    if (!config.recordTracePath().isEmpty()) {
      b.append(',');
      key(b, "recordTracePath").append(quote(config.recordTracePath()));
    }
    if (config.download().isPresent()) {
      DownloadConfig d = config.download().get();
      b.append(',');
      key(b, "download")
          .append("{\"enable\":")
          .append(d.enable())
          .append(",\"delay\":")
          .append(d.delay())
          .append(",\"delayExtra\":")
          .append(d.delayExtra())
          .append(",\"maxMBps\":")
          .append(d.maxMBps())
          .append(",\"tryCnt\":")
          .append(d.tryCnt())
          .append(",\"blockSize\":")
          .append(d.blockSize())
          .append('}');
    }
    b.append('}');
    return b.toString();
  }

  /**
   * Writes {@code config} to {@code file} atomically (a temporary file in the same directory,
   * synced, then renamed over the target), so a reader never sees half a config.
   */
  public static void write(ImageConfig config, Path file) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
    try {
      try (java.nio.channels.FileChannel ch =
          java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
        java.nio.ByteBuffer buf =
            java.nio.ByteBuffer.wrap(toJson(config).getBytes(StandardCharsets.UTF_8));
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  private static String text(JsonNode node, String key, String at) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return "";
    }
    if (!v.isTextual()) {
      throw new IllegalArgumentException(path(at, key) + ": expected a string");
    }
    return v.textValue();
  }

  private static long number(JsonNode node, String key, String at, long dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new IllegalArgumentException(path(at, key) + ": expected an integer");
    }
    return v.longValue();
  }

  private static boolean bool(JsonNode node, String key, String at, boolean dflt) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw new IllegalArgumentException(path(at, key) + ": expected true or false");
    }
    return v.booleanValue();
  }

  private static String path(String at, String key) {
    return at.isEmpty() ? key : at + "." + key;
  }

  private static StringBuilder key(StringBuilder b, String key) {
    return b.append('"').append(key).append("\":");
  }

  /** A JSON string literal with Go's encoding/json escaping (HTML-safe). */
  static String quote(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        case '\r':
          b.append("\\r");
          break;
        case '\t':
          b.append("\\t");
          break;
        case '<':
        case '>':
        case '&':
        case '\u2028':
        case '\u2029':
          b.append(String.format("\\u%04x", (int) c));
          break;
        default:
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
      }
    }
    return b.append('"').toString();
  }

  /** Writes an object's fields, omitting empty ones (Go's omitempty). */
  private static final class Fields {
    private final StringBuilder b;
    private boolean first = true;

    Fields(StringBuilder b) {
      this.b = b;
      b.append('{');
    }

    void text(String key, String value) {
      if (!value.isEmpty()) {
        sep();
        key(b, key).append(quote(value));
      }
    }

    void number(String key, long value) {
      if (value != 0) {
        sep();
        key(b, key).append(value);
      }
    }

    void end() {
      b.append('}');
    }

    private void sep() {
      if (!first) {
        b.append(',');
      }
      first = false;
    }
  }
}
