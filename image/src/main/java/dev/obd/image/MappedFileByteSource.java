package dev.obd.image;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An immutable local file read through a memory mapping: a read is a copy from the page cache
 * without a system call, which matters for the many small reads of a block device (a 4 KiB read of
 * a compressed layer costs about a third of a {@code pread} this way). For layer files only: the
 * file must not shrink while mapped (a read of a truncated mapping fails with an {@link
 * IOException} at best). Thread-safe and positional.
 *
 * <p>{@link #close()} closes the file; the mapping itself is released when it becomes unreachable,
 * because unmapping while another thread might still read would crash the JVM.
 */
public final class MappedFileByteSource implements ByteSource {
  /** Bytes per mapping; mappings are limited to 2 GiB each. */
  private static final long CHUNK = 1L << 30;

  private final Path path;
  private final long size;
  private final MappedByteBuffer[] chunks;
  private final FileChannel channel;
  private volatile boolean closed;

  private MappedFileByteSource(
      Path path, FileChannel channel, long size, MappedByteBuffer[] chunks) {
    this.path = path;
    this.channel = channel;
    this.size = size;
    this.chunks = chunks;
  }

  /** Maps {@code path} read-only. The caller owns the result and closes it. */
  public static MappedFileByteSource open(Path path) throws IOException {
    FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
    try {
      long size = ch.size();
      int n = (int) ((size + CHUNK - 1) / CHUNK);
      MappedByteBuffer[] chunks = new MappedByteBuffer[n];
      for (int i = 0; i < n; i++) {
        long start = i * CHUNK;
        chunks[i] = ch.map(FileChannel.MapMode.READ_ONLY, start, Math.min(CHUNK, size - start));
      }
      return new MappedFileByteSource(path, ch, size, chunks);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    int n = dst.remaining();
    if (closed) {
      throw new IOException("read " + path + ": source is closed");
    }
    if (position < 0 || position > size - n) {
      throw new EOFException(
          "read "
              + n
              + " bytes of "
              + path
              + " at offset "
              + position
              + ": past the end ("
              + size
              + " bytes)");
    }
    long pos = position;
    try {
      while (dst.hasRemaining()) {
        int c = (int) (pos / CHUNK);
        int off = (int) (pos - c * CHUNK);
        int len = Math.min(dst.remaining(), chunks[c].capacity() - off);
        dst.put(dst.position(), chunks[c], off, len);
        dst.position(dst.position() + len);
        pos += len;
      }
    } catch (InternalError e) {
      // the JVM reports a fault on a mapped page (file truncated underneath) this way
      throw new IOException("read " + path + " at offset " + pos + ": the mapped file changed", e);
    }
  }

  @Override
  public String describe() {
    return path.toString();
  }

  @Override
  public void close() throws IOException {
    closed = true;
    channel.close();
  }
}
