package dev.obd.image.tar;

import dev.obd.image.ByteSource;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/** A window {@code [offset, offset+length)} of another source. Thread-safe like its parent. */
final class ByteSlice implements ByteSource {
  private final ByteSource parent;
  private final long offset;
  private final long length;
  private final String name;

  ByteSlice(ByteSource parent, long offset, long length, String what) {
    this.parent = parent;
    this.offset = offset;
    this.length = length;
    this.name = parent.describe() + " (" + what + " payload at " + offset + ")";
  }

  @Override
  public long size() {
    return length;
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    if (position < 0 || position > length - dst.remaining()) {
      throw new EOFException(
          "read "
              + dst.remaining()
              + " bytes of "
              + name
              + " at offset "
              + position
              + ": past its end ("
              + length
              + " bytes)");
    }
    parent.readFully(offset + position, dst);
  }

  @Override
  public String describe() {
    return name;
  }

  @Override
  public void close() throws IOException {
    parent.close();
  }
}
