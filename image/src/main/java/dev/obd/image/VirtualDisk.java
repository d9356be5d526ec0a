package dev.obd.image;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The virtual block device an OverlayBD image (a stack of layers, optionally with a writable upper
 * layer) presents. Thread-safe and positional; reads of ranges no layer wrote return zeros.
 */
public interface VirtualDisk extends Closeable {

  /** Size of the virtual disk in bytes. */
  long size();

  /**
   * Fills {@code dst} from its position to its limit with the disk's bytes starting at {@code
   * offset}.
   *
   * @throws IOException naming the layer and offset when a layer cannot be read or is corrupt
   */
  void read(long offset, ByteBuffer dst) throws IOException;

  /** Whether {@link #write}, {@link #trim} and {@link #flush} are supported. */
  default boolean writable() {
    return false;
  }

  /** Writes {@code src} at {@code offset}; only for a disk with a writable upper layer. */
  default void write(long offset, ByteBuffer src) throws IOException {
    throw new IOException("read-only disk");
  }

  /** Makes the range read as zeros from now on; only for a writable disk. */
  default void trim(long offset, long length) throws IOException {
    throw new IOException("read-only disk");
  }

  /** Makes completed writes durable; only for a writable disk. */
  default void flush() throws IOException {}
}
