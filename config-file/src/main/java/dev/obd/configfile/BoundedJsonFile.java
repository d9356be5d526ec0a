package dev.obd.configfile;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reads the small JSON files an operator or another tool writes (both daemons' configurations,
 * {@code cred.json}, docker's {@code config.json}, an image's {@code config.v1.json}) so that no
 * such file can hang or exhaust a process: only regular files are opened (opening a FIFO blocks
 * until a writer comes, {@code /dev/zero} never ends), at most a given number of bytes are read
 * (checked before reading and again while reading, for files that grow or report no size, as in
 * {@code /proc}), and JSON nested deeper than a given depth is refused. Every problem is a {@link
 * Problem} whose message is one line: the file, then the problem; none quotes the file's content,
 * which may hold secrets.
 *
 * <p>The type is checked before the file is opened; a file replaced by a FIFO in between still
 * blocks, which needs write access to the directory (root's {@code /etc}, {@code /opt}).
 */
public final class BoundedJsonFile {
  /** Far above any config or credential file (a docker config.json with 1,000 registries). */
  public static final int MAX_BYTES = 1 << 20;

  /** Our files nest four levels deep; docker's five. */
  public static final int MAX_DEPTH = 64;

  private static final ObjectMapper TREES = mapper(MAX_DEPTH);

  private static final int S_IFMT = 0170000;

  private BoundedJsonFile() {}

  /** A mapper that refuses JSON nested deeper than {@code maxDepth} levels. */
  public static ObjectMapper mapper(int maxDepth) {
    return new ObjectMapper(
        JsonFactory.builder()
            .streamReadConstraints(
                StreamReadConstraints.builder().maxNestingDepth(maxDepth).build())
            .build());
  }

  /** A file that cannot be used; the message is one line: the file, then the problem. */
  public static final class Problem extends IOException {
    private static final long serialVersionUID = 1L;

    public Problem(Path file, String problem, Throwable cause) {
      super(file + ": " + problem, cause);
    }
  }

  /** The bytes of {@code file}, at most {@link #MAX_BYTES}; see {@link #read(Path, int)}. */
  public static byte[] read(Path file) throws IOException {
    return read(file, MAX_BYTES);
  }

  /**
   * The bytes of {@code file}.
   *
   * @throws java.nio.file.NoSuchFileException when it does not exist (callers decide what that
   *     means)
   * @throws Problem when it is not a regular file, is longer than {@code maxBytes}, or cannot be
   *     read
   */
  public static byte[] read(Path file, int maxBytes) throws IOException {
    BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
    if (!a.isRegularFile()) {
      throw new Problem(file, "not a regular file but " + kind(file, a), null);
    }
    if (a.size() > maxBytes) {
      throw new Problem(file, tooLarge(a.size() + " bytes", maxBytes), null);
    }
    try (InputStream in = Files.newInputStream(file)) {
      byte[] bytes = in.readNBytes(maxBytes + 1);
      if (bytes.length > maxBytes) {
        throw new Problem(file, tooLarge("more than " + maxBytes + " bytes", maxBytes), null);
      }
      return bytes;
    } catch (Problem e) {
      throw e;
    } catch (IOException e) {
      throw new Problem(file, "cannot be read: " + e.getMessage(), e);
    }
  }

  /**
   * Reads and parses {@code file} (at most {@link #MAX_BYTES}, {@link #MAX_DEPTH} levels) into a
   * tree; null for an empty file.
   */
  public static JsonNode readTree(Path file) throws IOException {
    byte[] bytes = read(file);
    try {
      return TREES.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw new Problem(file, describeWithoutContent(e, MAX_DEPTH), e);
    }
  }

  /**
   * "not valid JSON at line L, column C", or "JSON nested deeper than {@code maxDepth} levels";
   * never the content.
   */
  public static String describeWithoutContent(JsonProcessingException e, int maxDepth) {
    if (e instanceof StreamConstraintsException) {
      return "JSON nested deeper than " + maxDepth + " levels";
    }
    JsonLocation l = e.getLocation();
    return l == null
        ? "not valid JSON"
        : "not valid JSON at line " + l.getLineNr() + ", column " + l.getColumnNr();
  }

  /** {@code message} on one line, cut to {@code max} characters. */
  public static String oneLine(String message, int max) {
    String s = String.valueOf(message).replaceAll("\\s+", " ").trim();
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }

  private static String tooLarge(String size, int maxBytes) {
    return size + ", larger than the " + maxBytes + " bytes a configuration file may have";
  }

  /** The file type, as {@code ls -l} would tell it. */
  private static String kind(Path file, BasicFileAttributes a) {
    if (a.isDirectory()) {
      return "a directory";
    }
    int mode;
    try {
      mode = (Integer) Files.getAttribute(file, "unix:mode");
    } catch (IOException | UnsupportedOperationException e) {
      return "a special file";
    }
    return switch (mode & S_IFMT) {
      case 0010000 -> "a FIFO";
      case 0140000 -> "a socket";
      case 0020000 -> "a character device";
      case 0060000 -> "a block device";
      default -> "a special file";
    };
  }
}
