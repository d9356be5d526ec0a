package dev.obd.image.lsmt;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A read-write file channel that survives thread interrupts. A {@link FileChannel} closes itself
 * for all threads when one thread doing I/O on it is interrupted, and a data plane cancels requests
 * by interrupting; this wrapper reopens the file, fails the interrupted call with {@link
 * InterruptedIOException} and retries the calls of other threads that the close cut off.
 * Thread-safe; positional calls only.
 */
final class ReopeningChannel implements java.io.Closeable {
  private final Path path;
  private volatile FileChannel channel;
  private volatile boolean closed;

  private ReopeningChannel(Path path, FileChannel channel) {
    this.path = path;
    this.channel = channel;
  }

  static ReopeningChannel open(Path path, OpenOption... options) throws IOException {
    return new ReopeningChannel(path, FileChannel.open(path, options));
  }

  interface Io<T> {
    T run(FileChannel ch) throws IOException;
  }

  <T> T io(String what, Io<T> op) throws IOException {
    boolean retried = false;
    while (true) {
      FileChannel ch = channel;
      if (closed) {
        throw new IOException(what + " " + path + ": the file is closed");
      }
      try {
        return op.run(ch);
      } catch (ClosedByInterruptException e) {
        reopen(ch);
        InterruptedIOException ie = new InterruptedIOException(what + " " + path + ": interrupted");
        ie.initCause(e);
        throw ie;
      } catch (AsynchronousCloseException e) {
        if (closed || retried) {
          throw e;
        }
        retried = true;
        reopen(ch);
      }
    }
  }

  int read(ByteBuffer dst, long position) throws IOException {
    return io("read", ch -> ch.read(dst, position));
  }

  int write(ByteBuffer src, long position) throws IOException {
    return io("write", ch -> ch.write(src, position));
  }

  long size() throws IOException {
    return io("size of", FileChannel::size);
  }

  void force(boolean metadata) throws IOException {
    io(
        "sync",
        ch -> {
          ch.force(metadata);
          return null;
        });
  }

  @Override
  public void close() throws IOException {
    closed = true;
    channel.close();
  }

  private synchronized void reopen(FileChannel broken) throws IOException {
    if (!closed && channel == broken && !broken.isOpen()) {
      channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }
  }
}
