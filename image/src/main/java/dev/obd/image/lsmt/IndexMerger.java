package dev.obd.image.lsmt;

import java.util.Arrays;
import java.util.List;

/**
 * Merges layer indexes the way overlaybd stacks lowers: an upper layer's entries (data and zeroed)
 * win; each gap between them is filled from the layers below, with boundary entries trimmed to the
 * gap (trimming the front of a data entry advances its moffset, of a zeroed entry does not). Each
 * emitted entry is tagged with the position of its layer in the bottom-first list (upstream counts
 * from the top instead; the tag is internal to a running stack and never stored).
 */
public final class IndexMerger {
  /** Upstream's limit on layers in a stack. */
  public static final int MAX_LAYERS = 255;

  /** Upstream's limit on entries of a merged index. */
  public static final long MAX_MERGED_ENTRIES = 128_000_000;

  private IndexMerger() {}

  /**
   * The merged index of {@code bottomFirst} (index 0 = bottom layer); entry tags are layer
   * positions.
   *
   * @throws IllegalArgumentException with more than {@link #MAX_LAYERS} layers or when the result
   *     would exceed {@link #MAX_MERGED_ENTRIES}
   */
  public static SegmentIndex merge(List<SegmentIndex> bottomFirst) {
    if (bottomFirst.size() > MAX_LAYERS) {
      throw new IllegalArgumentException(
          bottomFirst.size() + " layers exceed the limit of " + MAX_LAYERS);
    }
    SegmentIndex merged = SegmentIndex.EMPTY;
    for (int i = 0; i < bottomFirst.size(); i++) {
      merged = overlay(bottomFirst.get(i), i, merged);
    }
    return merged;
  }

  /**
   * {@code upper}'s entries, tagged {@code upperTag}, over {@code lower}'s (whose tags are kept).
   */
  public static SegmentIndex overlay(SegmentIndex upper, int upperTag, SegmentIndex lower) {
    if (upperTag < 0 || upperTag > 255) {
      throw new IllegalArgumentException("tag " + upperTag + " not in 0..255");
    }
    Builder out = new Builder(upper.size() + lower.size());
    long tagBits = (long) upperTag << 56;
    int j = 0;
    long gapStart = 0;
    for (int i = 0; i <= upper.size(); i++) {
      long gapEnd = i < upper.size() ? upper.offset(i) : Long.MAX_VALUE;
      // fill [gapStart, gapEnd) from lower
      while (j < lower.size() && lower.end(j) <= gapStart) {
        j++;
      }
      for (int k = j; k < lower.size() && lower.offset(k) < gapEnd; k++) {
        long start = Math.max(lower.offset(k), gapStart);
        long stop = Math.min(lower.end(k), gapEnd);
        long hi = lower.rawHigh(k);
        if ((hi & SegmentIndex.ZEROED_BIT) == 0) {
          hi += start - lower.offset(k); // advance moffset
        }
        out.add(start | ((stop - start) << 50), hi);
      }
      if (i < upper.size()) {
        out.add(upper.rawLow(i), (upper.rawHigh(i) & 0x00FF_FFFF_FFFF_FFFFL) | tagBits);
        gapStart = upper.end(i);
      }
    }
    return out.build();
  }

  /** Appends packed entries, growing as needed. */
  private static final class Builder {
    private long[] lo;
    private long[] hi;
    private int n;

    Builder(int capacity) {
      lo = new long[Math.max(16, capacity)];
      hi = new long[lo.length];
    }

    void add(long l, long h) {
      if (n == lo.length) {
        if (n >= MAX_MERGED_ENTRIES) {
          throw new IllegalArgumentException(
              "merged index exceeds the limit of " + MAX_MERGED_ENTRIES + " entries");
        }
        int cap = (int) Math.min(MAX_MERGED_ENTRIES, 2L * n);
        lo = Arrays.copyOf(lo, cap);
        hi = Arrays.copyOf(hi, cap);
      }
      lo[n] = l;
      hi[n] = h;
      n++;
    }

    SegmentIndex build() {
      return new SegmentIndex(lo, hi, n);
    }
  }
}
