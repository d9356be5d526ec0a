package dev.obd.registry;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Reads a response body and closes it when no byte has arrived for a while, so that a registry that
 * stops sending in the middle of a blob fails the read instead of holding it forever (the JDK's
 * HTTP client times out only the wait for the response headers). Not thread-safe: one reader.
 */
final class StallGuard implements AutoCloseable {
  private static final ScheduledExecutorService TIMER =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "obd-stall-guard");
            t.setDaemon(true);
            return t;
          });

  private final InputStream in;
  private final long stallNanos;
  private final String what;
  private final ScheduledFuture<?> check;
  private volatile long lastProgress = System.nanoTime();
  private volatile boolean stalled;

  StallGuard(InputStream in, Duration stall, String what) {
    this.in = in;
    this.stallNanos = stall.toNanos();
    this.what = what;
    long period = Math.max(10, stall.toMillis() / 4);
    this.check = TIMER.scheduleAtFixedRate(this::check, period, period, TimeUnit.MILLISECONDS);
  }

  private void check() {
    if (System.nanoTime() - lastProgress > stallNanos) {
      stalled = true;
      try {
        in.close();
      } catch (IOException e) {
        // closing is how the blocked read is ended; a failure to close changes nothing
      }
      check.cancel(false);
    }
  }

  /** Reads like {@link InputStream#read(byte[])}; fails once the body has stalled. */
  int read(byte[] buf) throws IOException {
    try {
      int n = in.read(buf);
      if (stalled) {
        throw stalledError(null);
      }
      lastProgress = System.nanoTime();
      return n;
    } catch (IOException e) {
      if (stalled) {
        throw stalledError(e);
      }
      throw e;
    }
  }

  private RegistryUnavailableException stalledError(IOException cause) {
    return new RegistryUnavailableException(
        what
            + ": no data from the registry for "
            + TimeUnit.NANOSECONDS.toSeconds(stallNanos)
            + " s",
        cause);
  }

  @Override
  public void close() {
    check.cancel(false);
  }
}
