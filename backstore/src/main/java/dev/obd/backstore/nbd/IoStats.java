package dev.obd.backstore.nbd;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Per-export I/O counters, updated by request threads and read by the control API. Thread-safe. */
public final class IoStats {
  final LongAdder reads = new LongAdder();
  final LongAdder bytesRead = new LongAdder();
  final LongAdder writes = new LongAdder();
  final LongAdder bytesWritten = new LongAdder();
  final LongAdder trims = new LongAdder();
  final LongAdder flushes = new LongAdder();
  final LongAdder errors = new LongAdder();
  final AtomicLong inFlight = new AtomicLong();
  final LongAdder connections = new LongAdder();

  /** An immutable copy for reporting. */
  public Snapshot snapshot() {
    return new Snapshot(
        reads.sum(),
        bytesRead.sum(),
        writes.sum(),
        bytesWritten.sum(),
        trims.sum(),
        flushes.sum(),
        errors.sum(),
        inFlight.get(),
        connections.sum());
  }

  /** Counter values at one moment. */
  public record Snapshot(
      long reads,
      long bytesRead,
      long writes,
      long bytesWritten,
      long trims,
      long flushes,
      long errors,
      long inFlight,
      long connections) {}
}
