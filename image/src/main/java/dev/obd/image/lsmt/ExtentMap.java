package dev.obd.image.lsmt;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.locks.StampedLock;

/**
 * The in-memory mapping of a writable layer: non-overlapping extents keyed by first sector, where a
 * new extent cuts away what it overlaps (a later write wins), as overlaybd replays its index log.
 *
 * <p>Thread-safe. Writers are serialised by a {@link StampedLock}; readers look up optimistically
 * and retry under the read lock only when a write raced with them. A {@link ConcurrentSkipListMap}
 * keeps an optimistic traversal safe while a writer changes the map.
 */
final class ExtentMap {
  /** A mapped range, in sectors. */
  record Extent(long start, long end, long moffset, boolean zeroed) {
    Extent from(long newStart) {
      return new Extent(newStart, end, zeroed ? moffset : moffset + (newStart - start), zeroed);
    }

    Extent until(long newEnd) {
      return new Extent(start, newEnd, moffset, zeroed);
    }
  }

  private final StampedLock lock = new StampedLock();
  private final ConcurrentSkipListMap<Long, Extent> map = new ConcurrentSkipListMap<>();

  /** Puts {@code e} over whatever it overlaps. */
  void put(Extent e) {
    long stamp = lock.writeLock();
    try {
      insert(e);
    } finally {
      lock.unlockWrite(stamp);
    }
  }

  /**
   * The mapping of {@code [sector, sector+count)}: entries trimmed to the range (a data entry's
   * moffset advances with its trimmed front) and split at the format's length limit.
   */
  List<Segment> lookup(long sector, long count) {
    long stamp = lock.tryOptimisticRead();
    List<Segment> out = collect(sector, count);
    if (lock.validate(stamp)) {
      return out;
    }
    stamp = lock.readLock();
    try {
      return collect(sector, count);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  /** A snapshot as a sorted index (entries split at the format's length limit). */
  SegmentIndex index() {
    long stamp = lock.readLock();
    try {
      List<Segment> out = new ArrayList<>();
      for (Extent e : map.values()) {
        for (long s = e.start; s < e.end; ) {
          int len = (int) Math.min(Segment.MAX_LENGTH, e.end - s);
          long m = e.zeroed ? e.moffset : e.moffset + (s - e.start);
          out.add(new Segment(s, len, m, e.zeroed, 0));
          s += len;
        }
      }
      return SegmentIndex.of(out);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  private void insert(Extent e) {
    Map.Entry<Long, Extent> before = map.lowerEntry(e.start);
    if (before != null && before.getValue().end > e.start) {
      Extent b = before.getValue();
      map.put(b.start, b.until(e.start));
      if (b.end > e.end) {
        map.put(e.end, b.from(e.end));
      }
    }
    Iterator<Extent> it = map.subMap(e.start, true, e.end, false).values().iterator();
    Extent tail = null;
    while (it.hasNext()) {
      Extent x = it.next();
      if (x.end > e.end) {
        tail = x.from(e.end);
      }
      it.remove();
    }
    if (tail != null) {
      map.put(tail.start, tail);
    }
    map.put(e.start, e);
  }

  private List<Segment> collect(long sector, long count) {
    List<Segment> out = new ArrayList<>(4);
    long end = sector + count;
    Map.Entry<Long, Extent> first = map.floorEntry(sector);
    Long from = first != null && first.getValue().end > sector ? first.getKey() : sector;
    for (Extent e : map.subMap(from, true, end, false).values()) {
      long s = Math.max(e.start, sector);
      long t = Math.min(e.end, end);
      for (long p = s; p < t; p += Segment.MAX_LENGTH) {
        long m = e.zeroed ? e.moffset : e.moffset + (p - e.start);
        out.add(new Segment(p, (int) Math.min(t - p, Segment.MAX_LENGTH), m, e.zeroed, 0));
      }
    }
    return out;
  }
}
