package dev.obd.snapshotter.overlaybd;

import dev.obd.image.LayerFiles;
import dev.obd.image.lsmt.LsmtHeader;
import dev.obd.image.zfile.ZFileHeader;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Recognises an OverlayBD layer file left in a snapshot's {@code fs} directory (a layer downloaded
 * whole by a pull without labels, or a sealed writable layer) by its magic, as upstream does: a
 * ZFile header, or an LSMT header.
 */
public final class BlockFiles {
  /** The names upstream looks for, in order. */
  public static final List<String> NAMES = List.of(LayerFiles.COMMIT, LayerFiles.SEALED);

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
    return ZFileHeader.hasMagic(head) || LsmtHeader.hasMagic(head);
  }
}
