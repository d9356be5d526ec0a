package dev.obd.snapshotter.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads a configuration file only when it is a regular file (following symbolic links) and at most
 * a given size. Opening a FIFO for reading blocks until some process writes to it, and a character
 * device such as {@code /dev/zero} never ends, so both are refused before they are opened; the size
 * is checked before reading and again while reading, for files that grow or that report no size
 * ({@code /proc}).
 */
final class BoundedFile {
  /** The file exists but is not one a configuration may be read from; the message says why. */
  static final class Refused extends IOException {
    private static final long serialVersionUID = 1L;

    Refused(String message) {
      super(message);
    }
  }

  private static final int S_IFMT = 0170000;

  private BoundedFile() {}

  /**
   * The contents of {@code file}.
   *
   * @throws java.nio.file.NoSuchFileException when it does not exist
   * @throws Refused when it is not a regular file or longer than {@code maxBytes}
   */
  static byte[] read(Path file, int maxBytes) throws IOException {
    if (!Files.isRegularFile(file)) {
      int mode = (Integer) Files.getAttribute(file, "unix:mode");
      throw new Refused("not a regular file but " + kind(mode));
    }
    long size = Files.size(file);
    if (size > maxBytes) {
      throw new Refused(tooLarge(size + " bytes", maxBytes));
    }
    try (InputStream in = Files.newInputStream(file)) {
      byte[] bytes = in.readNBytes(maxBytes + 1);
      if (bytes.length > maxBytes) {
        throw new Refused(tooLarge("more than " + maxBytes + " bytes", maxBytes));
      }
      return bytes;
    }
  }

  private static String tooLarge(String size, int maxBytes) {
    return size + ", larger than the " + maxBytes + " bytes a configuration file may have";
  }

  /** The file type in {@code st_mode}, as {@code ls -l} would tell it. */
  private static String kind(int mode) {
    return switch (mode & S_IFMT) {
      case 0040000 -> "a directory";
      case 0010000 -> "a FIFO";
      case 0140000 -> "a socket";
      case 0020000 -> "a character device";
      case 0060000 -> "a block device";
      default -> "a special file";
    };
  }
}
