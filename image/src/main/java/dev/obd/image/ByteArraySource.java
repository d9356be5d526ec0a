package dev.obd.image;

import java.io.EOFException;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * Bytes held in memory as a {@link ByteSource}; for small layers, tests and generated data. The
 * array is not copied: the caller must not change it while the source is in use. Thread-safe.
 */
public final class ByteArraySource implements ByteSource {
  private final byte[] bytes;
  private final String name;

  public ByteArraySource(byte[] bytes, String name) {
    this.bytes = Objects.requireNonNull(bytes, "bytes");
    this.name = Objects.requireNonNull(name, "name");
  }

  @Override
  public long size() {
    return bytes.length;
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws EOFException {
    int n = dst.remaining();
    if (position < 0 || position > bytes.length - (long) n) {
      throw new EOFException(
          "read "
              + n
              + " bytes of "
              + name
              + " at offset "
              + position
              + ": past the end ("
              + bytes.length
              + " bytes)");
    }
    dst.put(bytes, (int) position, n);
  }

  @Override
  public String describe() {
    return name;
  }

  @Override
  public void close() {}
}
