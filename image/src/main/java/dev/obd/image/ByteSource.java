package dev.obd.image;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Random-access, read-only bytes that a layer is read from: a local file, a registry blob fetched
 * by HTTP range requests, a cache in front of either. Implementations are thread-safe and
 * positional (no shared cursor), so many readers can use one source at once.
 */
public interface ByteSource extends Closeable {

  /** Total number of bytes. */
  long size() throws IOException;

  /**
   * Fills {@code dst} from its position to its limit with the bytes starting at {@code position}.
   *
   * @throws java.io.EOFException if the range extends past {@link #size()}
   * @throws IOException if the bytes cannot be read; the message names the source and the offset
   */
  void readFully(long position, ByteBuffer dst) throws IOException;

  /** A short human-readable name for error messages, e.g. a path or "blob sha256:... of repo". */
  String describe();
}
