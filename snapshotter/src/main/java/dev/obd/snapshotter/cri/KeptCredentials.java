package dev.obd.snapshotter.cri;

import dev.obd.snapshotter.device.PullCredential;
import java.time.Clock;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * The pull credentials the CRI proxy keeps, in memory only: one per repository, the latest pull's,
 * each until it expires; at most {@code maxEntries}, a new repository beyond that pushing out the
 * one kept longest without a new pull. Thread-safe.
 */
final class KeptCredentials {
  private record Key(String host, String repository) {}

  private final int maxEntries;
  private final Clock clock;
  private final LinkedHashMap<Key, PullCredential> entries = new LinkedHashMap<>();

  KeptCredentials(int maxEntries, Clock clock) {
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be positive");
    }
    this.maxEntries = maxEntries;
    this.clock = clock;
  }

  synchronized void keep(PullCredential c) {
    Key key = new Key(c.host(), c.repository());
    entries.remove(key);
    entries.put(key, c);
    dropExpired();
    Iterator<Key> oldest = entries.keySet().iterator();
    while (entries.size() > maxEntries) {
      oldest.next();
      oldest.remove();
    }
  }

  /** The credentials that have not expired, oldest first. */
  synchronized List<PullCredential> current() {
    dropExpired();
    return List.copyOf(entries.values());
  }

  synchronized boolean isEmpty() {
    dropExpired();
    return entries.isEmpty();
  }

  private void dropExpired() {
    entries.values().removeIf(c -> !clock.instant().isBefore(c.expiresAt()));
  }

  @Override
  public synchronized String toString() {
    return "KeptCredentials[" + entries.size() + " repositories]";
  }
}
