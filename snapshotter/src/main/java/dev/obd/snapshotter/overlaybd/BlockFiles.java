package dev.obd.snapshotter.overlaybd;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Recognises an OverlayBD layer file left in a snapshot's {@code fs} directory (a layer downloaded
 * whole by a pull without labels, or a sealed writable layer) by its magic, as upstream does: a
 * ZFile header, or an LSMT header.
 */
public final class BlockFiles {
  /** The names upstream looks for, in order. */
  public static final List<String> NAMES = List.of("overlaybd.commit", "overlaybd.sealed");

  private static final byte[] ZFILE_MAGIC0 = {'Z', 'F', 'i', 'l', 'e', 0, 1, 0};
  private static final byte[] ZFILE_MAGIC1 = {
    't', 'u', 'j', 'i', '.', 'y', 'y', 'f', '@', 'A', 'l', 'i', 'b', 'a', 'b', 'a'
  };
  private static final byte[] LSMT_MAGIC0 = {'L', 'S', 'M', 'T', 0, 1, 2, 0};
  private static final byte[] LSMT_MAGIC1 = {
    0x65,
    0x7E,
    0x63,
    (byte) 0xD2,
    (byte) 0x94,
    0x44,
    0x08,
    0x4C,
    (byte) 0xA2,
    (byte) 0xD2,
    (byte) 0xC8,
    (byte) 0xEC,
    0x4F,
    (byte) 0xCF,
    (byte) 0xAE,
    (byte) 0x8A
  };

  private BlockFiles() {}

  /** The first OverlayBD layer file in {@code fsDir}, if any. */
  public static Optional<Path> find(Path fsDir) throws IOException {
    for (String name : NAMES) {
      Path p = fsDir.resolve(name);
      if (isOverlayBd(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  /** Whether {@code file} starts with a ZFile or LSMT header. */
  public static boolean isOverlayBd(Path file) throws IOException {
    byte[] head = new byte[24];
    try (InputStream in = Files.newInputStream(file)) {
      if (in.readNBytes(head, 0, 24) < 24) {
        return false;
      }
    } catch (NoSuchFileException e) {
      return false;
    }
    return matches(head, ZFILE_MAGIC0, ZFILE_MAGIC1) || matches(head, LSMT_MAGIC0, LSMT_MAGIC1);
  }

  private static boolean matches(byte[] head, byte[] magic0, byte[] magic1) {
    return Arrays.equals(head, 0, 8, magic0, 0, 8) && Arrays.equals(head, 8, 24, magic1, 0, 16);
  }
}
