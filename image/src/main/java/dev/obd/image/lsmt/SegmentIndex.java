package dev.obd.image.lsmt;

import java.util.ArrayList;
import java.util.List;

/**
 * An immutable, sorted, non-overlapping set of {@link Segment}s in the packed 16-byte form of the
 * file format (two longs per entry), so that a 100,000-entry index takes 1.6 MB and a lookup is a
 * binary search over one array. Safe to share between threads without synchronisation.
 */
public final class SegmentIndex {
  static final long OFFSET_MASK = (1L << 50) - 1;
  static final long MOFFSET_MASK = (1L << 55) - 1;
  static final long ZEROED_BIT = 1L << 55;

  /** An index without entries. */
  public static final SegmentIndex EMPTY = new SegmentIndex(new long[0], new long[0], 0);

  private final long[] lo;
  private final long[] hi;
  private final int size;

  /** Takes ownership of the arrays; the caller guarantees order and packing. */
  SegmentIndex(long[] lo, long[] hi, int size) {
    this.lo = lo;
    this.hi = hi;
    this.size = size;
  }

  /**
   * An index of {@code segments}.
   *
   * @throws IllegalArgumentException unless the segments are sorted and do not overlap
   */
  public static SegmentIndex of(List<Segment> segments) {
    long[] lo = new long[segments.size()];
    long[] hi = new long[segments.size()];
    long prevEnd = 0;
    for (int i = 0; i < segments.size(); i++) {
      Segment s = segments.get(i);
      if (s.offset() < prevEnd) {
        throw new IllegalArgumentException(
            "segment " + i + " at sector " + s.offset() + " overlaps or precedes its predecessor");
      }
      prevEnd = s.end();
      lo[i] = s.packedLow();
      hi[i] = s.packedHigh();
    }
    return new SegmentIndex(lo, hi, segments.size());
  }

  public int size() {
    return size;
  }

  public long offset(int i) {
    return lo[i] & OFFSET_MASK;
  }

  public int length(int i) {
    return (int) (lo[i] >>> 50);
  }

  public long end(int i) {
    return (lo[i] & OFFSET_MASK) + (lo[i] >>> 50);
  }

  public long moffset(int i) {
    return hi[i] & MOFFSET_MASK;
  }

  public boolean zeroed(int i) {
    return (hi[i] & ZEROED_BIT) != 0;
  }

  public int tag(int i) {
    return (int) (hi[i] >>> 56);
  }

  public Segment get(int i) {
    return new Segment(offset(i), length(i), moffset(i), zeroed(i), tag(i));
  }

  /** All entries, in order. */
  public List<Segment> segments() {
    List<Segment> out = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      out.add(get(i));
    }
    return out;
  }

  /**
   * Index of the first entry that ends after {@code sector} (so it contains the sector or lies
   * beyond it), or {@link #size()} when there is none. O(log n).
   */
  public int firstEndingAfter(long sector) {
    int low = 0;
    int high = size - 1;
    // find the last entry starting at or before sector
    int found = -1;
    while (low <= high) {
      int mid = (low + high) >>> 1;
      if ((lo[mid] & OFFSET_MASK) <= sector) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (found >= 0 && end(found) > sector) {
      return found;
    }
    return found + 1;
  }

  /**
   * The entries overlapping {@code [sector, sector+count)}, trimmed to that range (a data entry's
   * moffset advances with its trimmed front). Gaps between them are holes.
   */
  public List<Segment> lookup(long sector, long count) {
    List<Segment> out = new ArrayList<>();
    long end = sector + count;
    for (int i = firstEndingAfter(sector); i < size && offset(i) < end; i++) {
      long start = Math.max(offset(i), sector);
      long stop = Math.min(end(i), end);
      long m = zeroed(i) ? moffset(i) : moffset(i) + (start - offset(i));
      out.add(new Segment(start, (int) (stop - start), m, zeroed(i), tag(i)));
    }
    return out;
  }

  /** Number of zeroed entries. */
  public int zeroedCount() {
    int n = 0;
    for (int i = 0; i < size; i++) {
      if (zeroed(i)) {
        n++;
      }
    }
    return n;
  }

  /** Sectors covered by data (not zeroed) entries. */
  public long dataSectors() {
    long n = 0;
    for (int i = 0; i < size; i++) {
      if (!zeroed(i)) {
        n += length(i);
      }
    }
    return n;
  }

  long rawLow(int i) {
    return lo[i];
  }

  long rawHigh(int i) {
    return hi[i];
  }
}
