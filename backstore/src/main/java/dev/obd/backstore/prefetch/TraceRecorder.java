package dev.obd.backstore.prefetch;

import dev.obd.image.ByteSource;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * Records the reads a container makes, as upstream's record mode does: each lower layer's LSMT-file
 * source is wrapped, successful reads are logged, and the trace is written when {@code
 * <trace>.lock} is deleted or the device is removed; {@code <trace>.ok} marks completion.
 * Thread-safe.
 */
public final class TraceRecorder implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(TraceRecorder.class.getName());

  private final Path trace;
  private final List<TraceFile.Entry> entries = new ArrayList<>();
  private boolean finished;

  private TraceRecorder(Path trace) {
    this.trace = trace;
  }

  /** Starts recording into {@code trace} (an existing empty file) and creates the lock file. */
  public static TraceRecorder start(Path trace) throws IOException {
    Files.deleteIfExists(ok(trace));
    Files.writeString(lock(trace), "");
    LOG.info("recording an I/O trace into " + trace);
    return new TraceRecorder(trace);
  }

  static Path lock(Path trace) {
    return trace.resolveSibling(trace.getFileName() + ".lock");
  }

  static Path ok(Path trace) {
    return trace.resolveSibling(trace.getFileName() + ".ok");
  }

  /** Wraps the LSMT-file source of {@code lowers[layer]} so that its reads are recorded. */
  public ByteSource wrap(ByteSource source, int layer) {
    return new ByteSource() {
      @Override
      public long size() throws IOException {
        return source.size();
      }

      @Override
      public void readFully(long position, ByteBuffer dst) throws IOException {
        int n = dst.remaining();
        source.readFully(position, dst);
        if (n > 0) {
          record(new TraceFile.Entry(layer, position, n));
        }
      }

      @Override
      public String describe() {
        return source.describe();
      }

      @Override
      public void close() throws IOException {
        source.close();
      }
    };
  }

  private synchronized void record(TraceFile.Entry e) {
    if (!finished) {
      entries.add(e);
    }
  }

  /** Whether someone deleted the lock file, asking for the trace now. */
  public boolean stopRequested() {
    return !Files.exists(lock(trace));
  }

  public synchronized boolean finished() {
    return finished;
  }

  /** Writes the trace and the {@code .ok} marker; later reads are not recorded. */
  public synchronized void finish() throws IOException {
    if (finished) {
      return;
    }
    finished = true;
    TraceFile.write(trace, entries);
    Files.deleteIfExists(lock(trace));
    Files.writeString(ok(trace), "");
    LOG.info("wrote I/O trace " + trace + " with " + entries.size() + " reads");
  }

  @Override
  public void close() throws IOException {
    finish();
  }
}
