package dev.obd.backstore.prefetch;

import dev.obd.image.ByteSource;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Replays a trace in the background: the recorded reads are issued again against each layer's
 * LSMT-file source with {@code concurrency} threads, which fills the registry range cache before
 * the container asks. Failures are counted and logged once; they never fail the device.
 */
public final class TraceReplayer implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(TraceReplayer.class.getName());
  private static final int MAX_PIECE = 1 << 20;

  private final ExecutorService pool;
  private final AtomicInteger left;
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong bytes = new AtomicLong();

  private TraceReplayer(ExecutorService pool, int count) {
    this.pool = pool;
    this.left = new AtomicInteger(count);
  }

  /** Starts replaying {@code entries} against {@code layers} (indexed like the config's lowers). */
  public static TraceReplayer start(
      List<TraceFile.Entry> entries, List<ByteSource> layers, int concurrency, String device) {
    ExecutorService pool =
        Executors.newFixedThreadPool(
            concurrency,
            r -> {
              Thread t = new Thread(r, "prefetch-" + device);
              t.setDaemon(true);
              return t;
            });
    TraceReplayer r = new TraceReplayer(pool, entries.size());
    for (TraceFile.Entry e : entries) {
      pool.execute(() -> r.replay(e, layers, device));
    }
    pool.shutdown();
    LOG.info("replaying " + entries.size() + " trace reads for " + device);
    return r;
  }

  private void replay(TraceFile.Entry e, List<ByteSource> layers, String device) {
    try {
      if (e.layer() >= layers.size()) {
        throw new IllegalArgumentException(
            "trace names layer " + e.layer() + " of " + layers.size());
      }
      ByteSource s = layers.get(e.layer());
      for (long done = 0; done < e.count(); ) {
        int n = (int) Math.min(MAX_PIECE, e.count() - done);
        n = (int) Math.min(n, s.size() - e.offset() - done);
        if (n <= 0) {
          break;
        }
        s.readFully(e.offset() + done, ByteBuffer.allocate(n));
        bytes.addAndGet(n);
        done += n;
      }
    } catch (Exception ex) {
      if (failures.getAndIncrement() == 0) {
        LOG.warning(
            "trace replay for " + device + ": " + ex.getMessage() + " (further failures counted)");
      }
    } finally {
      if (left.decrementAndGet() == 0) {
        LOG.info(
            "trace replay for "
                + device
                + " done: "
                + bytes.get()
                + " bytes, "
                + failures.get()
                + " failures");
      }
    }
  }

  /** Reads still to replay. */
  public int remaining() {
    return left.get();
  }

  @Override
  public void close() {
    pool.shutdownNow();
  }
}
