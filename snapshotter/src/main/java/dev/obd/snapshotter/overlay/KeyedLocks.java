package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.errdefs.UnavailableException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One reentrant lock per snapshot id, for the work on that snapshot's block device: attaching,
 * mounting, detaching and reconciling one device happen one at a time, while different devices
 * proceed in parallel. A lock exists only while someone holds or waits for it. Waiting has a
 * deadline: a caller that cannot get the lock in time gets UNAVAILABLE instead of waiting behind a
 * stalled attach for ever.
 *
 * <p>Thread-safe.
 */
final class KeyedLocks {
  /** Work done under a lock. */
  @FunctionalInterface
  interface Body<T> {
    T run();
  }

  private static final class Entry {
    final ReentrantLock lock = new ReentrantLock();
    int users; // guarded by the map
  }

  private final Map<Long, Entry> locks = new HashMap<>(); // guarded by itself
  private final Duration wait;

  /**
   * @param wait how long a caller waits for a lock another caller holds
   */
  KeyedLocks(Duration wait) {
    this.wait = wait;
  }

  /**
   * Runs {@code body} holding the lock of {@code id}.
   *
   * @throws UnavailableException if the lock is not free within the wait deadline
   */
  <T> T with(long id, String what, Body<T> body) {
    Entry e;
    synchronized (locks) {
      e = locks.computeIfAbsent(id, k -> new Entry());
      e.users++;
    }
    try {
      boolean locked;
      try {
        locked = e.lock.tryLock(wait.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        throw new UnavailableException("interrupted while waiting to " + what, ie);
      }
      if (!locked) {
        throw new UnavailableException(
            "cannot "
                + what
                + ": another call has been working on the device of snapshot "
                + id
                + " for more than "
                + wait.toSeconds()
                + " s");
      }
      try {
        return body.run();
      } finally {
        e.lock.unlock();
      }
    } finally {
      synchronized (locks) {
        if (--e.users == 0) {
          locks.remove(id);
        }
      }
    }
  }
}
