package dev.obd.image;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A local file as a {@link ByteSource}: positional reads ({@code pread}), no shared cursor, safe
 * for any number of threads.
 *
 * <p>A {@link FileChannel} closes itself for everybody when one reading thread is interrupted. A
 * data plane cancels requests by interrupting, so this source reopens the file after such a close:
 * the interrupted read fails with {@link InterruptedIOException}, other reads carry on.
 */
public final class FileByteSource implements ByteSource {
  private final Path path;
  private volatile FileChannel channel;
  private volatile boolean closed;

  private FileByteSource(Path path, FileChannel channel) {
    this.path = path;
    this.channel = channel;
  }

  /** Opens {@code path} read-only. The caller owns the result and closes it. */
  public static FileByteSource open(Path path) throws IOException {
    return new FileByteSource(path, FileChannel.open(path, StandardOpenOption.READ));
  }

  /** The file this source reads. */
  public Path path() {
    return path;
  }

  @Override
  public long size() throws IOException {
    return current().size();
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    if (position < 0) {
      throw new IllegalArgumentException("negative position " + position);
    }
    boolean retried = false;
    long pos = position;
    while (dst.hasRemaining()) {
      FileChannel ch = current();
      int n;
      try {
        n = ch.read(dst, pos);
      } catch (ClosedByInterruptException e) {
        reopen(ch);
        InterruptedIOException ie =
            new InterruptedIOException("read " + path + " at offset " + pos + ": interrupted");
        ie.initCause(e);
        throw ie;
      } catch (AsynchronousCloseException e) {
        // another thread's interrupt closed the shared channel under us
        if (closed || retried) {
          throw e;
        }
        retried = true;
        reopen(ch);
        continue;
      }
      if (n < 0) {
        throw new EOFException(
            "read "
                + dst.remaining()
                + " bytes of "
                + path
                + " at offset "
                + pos
                + ": past the end of the file ("
                + ch.size()
                + " bytes)");
      }
      pos += n;
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

  @Override
  public String toString() {
    return "FileByteSource[" + path + "]";
  }

  private FileChannel current() throws IOException {
    FileChannel ch = channel;
    if (closed) {
      throw new IOException("read " + path + ": source is closed");
    }
    return ch;
  }

  private synchronized void reopen(FileChannel broken) throws IOException {
    if (!closed && channel == broken && !broken.isOpen()) {
      channel = FileChannel.open(path, StandardOpenOption.READ);
    }
  }
}
