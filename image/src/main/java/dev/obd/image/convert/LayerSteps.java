package dev.obd.image.convert;

import java.io.IOException;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * What a layer's tar asks of the tree it is applied to, entry by entry ({@link LayerApplier#walk}
 * reads the tar): the ext4 tree of a mounted disk, or an in-memory EROFS tree.
 */
interface LayerSteps {
  /** Empties {@code dir} (a tar name, "" for the root) of what the layers below put there. */
  void opaque(String dir) throws IOException;

  /** Removes {@code name} as the layers below made it. */
  void whiteout(String name) throws IOException;

  /** Creates or replaces {@code name}; returns the bytes of file data it took from {@code tar}. */
  long extract(TarArchiveInputStream tar, TarArchiveEntry e, String name, Map<String, byte[]> raw)
      throws IOException;
}
