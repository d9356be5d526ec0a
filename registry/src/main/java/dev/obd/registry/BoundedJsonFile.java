package dev.obd.registry;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;

/**
 * Reads the small JSON files an operator or another tool writes for the backstore (its config,
 * {@code cred.json}, docker's {@code config.json}) so that no such file can hang or exhaust the
 * daemon: only regular files are opened (a FIFO would block {@code open(2)} until a writer comes),
 * at most {@link #MAX_BYTES} are read, and JSON nested deeper than {@link #MAX_DEPTH} levels is
 * refused. Every problem is a {@link Problem} whose message is one line naming the file.
 *
 * <p>The type is checked before the file is opened; a file replaced by a FIFO in between still
 * blocks, which needs write access to the directory (root's {@code /etc}, {@code /opt}). Lives in
 * the module's lowest package so the config layer and the credential store share it.
 */
public final class BoundedJsonFile {
  /** Far above any config or credential file (a docker config.json with 1,000 registries). */
  public static final int MAX_BYTES = 1 << 20;

  /** Our files nest four levels deep; docker's five. */
  public static final int MAX_DEPTH = 64;

  /** Parses with {@link #MAX_DEPTH}; unknown properties fail (the backstore config wants that). */
  public static final ObjectMapper STRICT =
      new ObjectMapper(factory()).enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  private static final ObjectMapper TREES = new ObjectMapper(factory());

  private BoundedJsonFile() {}

  private static JsonFactory factory() {
    return JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
        .build();
  }

  /** A file that cannot be used; the message is one line: the file, then the problem. */
  public static final class Problem extends IOException {
    Problem(Path file, String problem, Throwable cause) {
      super(file + ": " + problem, cause);
    }
  }

  /**
   * The bytes of {@code file}.
   *
   * @throws java.nio.file.NoSuchFileException when it does not exist (callers decide what that
   *     means)
   * @throws Problem when it is not a regular file, is larger than {@link #MAX_BYTES}, or cannot be
   *     read
   */
  public static byte[] read(Path file) throws IOException {
    BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
    if (a.isDirectory()) {
      throw new Problem(file, "is a directory, not a file", null);
    }
    if (!a.isRegularFile()) {
      throw new Problem(file, "is not a regular file (a FIFO, socket or device?)", null);
    }
    if (a.size() > MAX_BYTES) {
      throw new Problem(file, tooLarge(a.size()), null);
    }
    try (SeekableByteChannel ch = Files.newByteChannel(file, StandardOpenOption.READ)) {
      ByteBuffer buf = ByteBuffer.allocate(MAX_BYTES + 1);
      while (buf.hasRemaining() && ch.read(buf) >= 0) {
        // a file growing while read is caught by the bound below
      }
      if (!buf.hasRemaining()) {
        throw new Problem(file, tooLarge(ch.size()), null);
      }
      return Arrays.copyOf(buf.array(), buf.position());
    } catch (Problem e) {
      throw e;
    } catch (IOException e) {
      throw new Problem(file, "cannot be read: " + e.getMessage(), e);
    }
  }

  /**
   * Parses {@code file} into a tree. Messages never quote the file's content (it may hold secrets):
   * they name the line and column of a syntax error.
   */
  public static JsonNode readTree(Path file) throws IOException {
    byte[] bytes = read(file);
    try {
      return TREES.readTree(bytes);
    } catch (JsonProcessingException e) {
      throw new Problem(file, describeWithoutContent(e), e);
    }
  }

  /** "not valid JSON at line L, column C", or the nesting limit; never the content. */
  public static String describeWithoutContent(JsonProcessingException e) {
    if (e instanceof StreamConstraintsException) {
      return "not valid JSON: nested deeper than " + MAX_DEPTH + " levels";
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

  private static String tooLarge(long size) {
    return "is larger than " + (MAX_BYTES >> 20) + " MiB (" + size + " bytes)";
  }
}
