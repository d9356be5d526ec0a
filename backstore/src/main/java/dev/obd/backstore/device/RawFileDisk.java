package dev.obd.backstore.device;

import dev.obd.image.VirtualDisk;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A plain file as a virtual disk: the baseline the benchmarks compare against and a disk for
 * exercising the NBD server without the OverlayBD format. Thread-safe (positional I/O only). Trim
 * writes zeros, which is what a trimmed range must read back as.
 */
public final class RawFileDisk implements VirtualDisk {
  private final FileChannel channel;
  private final long size;
  private final boolean writable;

  private RawFileDisk(FileChannel channel, long size, boolean writable) {
    this.channel = channel;
    this.size = size;
    this.writable = writable;
  }

  /** Opens {@code file}; its size must be a multiple of 512. */
  public static RawFileDisk open(Path file, boolean writable) throws IOException {
    FileChannel ch =
        writable
            ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(file, StandardOpenOption.READ);
    long size = ch.size();
    if (size % 512 != 0) {
      ch.close();
      throw new IOException(
          "open raw disk " + file + ": size " + size + " is not a multiple of 512");
    }
    return new RawFileDisk(ch, size, writable);
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    long pos = offset;
    while (dst.hasRemaining()) {
      int n = channel.read(dst, pos);
      if (n < 0) {
        while (dst.hasRemaining()) {
          dst.put((byte) 0);
        }
        return;
      }
      pos += n;
    }
  }

  @Override
  public boolean writable() {
    return writable;
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    if (!writable) {
      throw new IOException("read-only disk");
    }
    long pos = offset;
    while (src.hasRemaining()) {
      pos += channel.write(src, pos);
    }
  }

  @Override
  public void trim(long offset, long length) throws IOException {
    ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
    for (long done = 0; done < length; ) {
      zeros.clear().limit((int) Math.min(zeros.capacity(), length - done));
      write(offset + done, zeros);
      done += zeros.limit();
    }
  }

  @Override
  public void flush() throws IOException {
    if (writable) {
      channel.force(false);
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
