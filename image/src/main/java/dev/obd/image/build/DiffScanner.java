package dev.obd.image.build;

import dev.obd.image.VirtualDisk;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.SegmentIndex;
import dev.obd.image.sys.Posix;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds what a layer must store so that it, stacked on {@code lower}, reads like a raw disk image:
 * 4 KiB blocks whose content differs from the lower stack become data, blocks that became all zeros
 * become zeroed ranges (a hole would show the lower data again), unchanged blocks are holes.
 * Without a lower stack every non-zero block is data. Only the image's allocated extents and the
 * lower's mapped ranges are compared, so a mostly empty 64 GiB image scans in proportion to its
 * content.
 */
final class DiffScanner {
  /** Comparison granularity; keeps stored ranges 4 KiB aligned inside the layer file. */
  static final int BLOCK = 4096;

  private static final int CHUNK = 1 << 20;

  /** A range {@code [start, end)} in bytes that becomes data or a zeroed entry. */
  record Run(long start, long end, boolean zeroed) {}

  private final FileChannel image;
  private final long imageSize;
  private final Optional<? extends VirtualDisk> lower;
  private final ByteBuffer mine = ByteBuffer.allocateDirect(CHUNK);
  private final ByteBuffer theirs = ByteBuffer.allocateDirect(CHUNK);
  private final ByteBuffer zeros = ByteBuffer.allocateDirect(BLOCK);
  private final List<Run> runs = new ArrayList<>();

  private DiffScanner(FileChannel image, long imageSize, Optional<? extends VirtualDisk> lower) {
    this.image = image;
    this.imageSize = imageSize;
    this.lower = lower;
  }

  /** The runs of {@code image} (a file of {@code imageSize} bytes) over {@code lower}. */
  static List<Run> scan(
      java.nio.file.Path path,
      FileChannel image,
      long imageSize,
      long virtualSize,
      Optional<LayerStack> lower)
      throws IOException {
    List<long[]> candidates = new ArrayList<>();
    for (Posix.Extent e : Posix.dataExtents(path, imageSize)) {
      candidates.add(new long[] {e.start(), e.end()});
    }
    if (lower.isPresent()) {
      SegmentIndex map = lower.get().mapping();
      for (int i = 0; i < map.size(); i++) {
        if (!map.zeroed(i)) {
          candidates.add(new long[] {map.offset(i) * 512, map.end(i) * 512});
        }
      }
    }
    candidates.sort((a, b) -> Long.compare(a[0], b[0]));
    DiffScanner s = new DiffScanner(image, imageSize, lower);
    long doneUpTo = 0;
    for (long[] c : candidates) {
      long start = Math.max(c[0] / BLOCK * BLOCK, doneUpTo);
      long end = Math.min((c[1] + BLOCK - 1) / BLOCK * BLOCK, virtualSize);
      if (start < end) {
        s.compare(start, end);
        doneUpTo = end;
      }
    }
    return s.runs;
  }

  private void compare(long start, long end) throws IOException {
    for (long pos = start; pos < end; ) {
      int n = (int) Math.min(CHUNK, end - pos);
      readImage(pos, n);
      if (lower.isPresent()) {
        theirs.clear().limit(n);
        lower.get().read(pos, theirs);
        theirs.flip();
      }
      for (int b = 0; b < n; b += BLOCK) {
        int len = Math.min(BLOCK, n - b);
        boolean zero = isZero(mine, b, len);
        boolean changed;
        if (lower.isPresent()) {
          changed = !slice(mine, b, len).equals(slice(theirs, b, len));
        } else {
          changed = !zero;
        }
        if (changed) {
          add(pos + b, pos + b + len, zero);
        }
      }
      pos += n;
    }
  }

  private void readImage(long pos, int n) throws IOException {
    mine.clear().limit(n);
    long p = pos;
    while (mine.hasRemaining() && p < imageSize) {
      if (imageSize - p < mine.remaining()) {
        mine.limit(mine.position() + (int) (imageSize - p));
      }
      int r = image.read(mine, p);
      if (r < 0) {
        break;
      }
      p += r;
    }
    mine.limit(n);
    while (mine.hasRemaining()) {
      mine.put((byte) 0); // past the image's end the disk reads as zeros
    }
    mine.flip();
  }

  private void add(long start, long end, boolean zeroed) {
    if (!runs.isEmpty()) {
      Run last = runs.get(runs.size() - 1);
      if (last.end() == start && last.zeroed() == zeroed) {
        runs.set(runs.size() - 1, new Run(last.start(), end, zeroed));
        return;
      }
    }
    runs.add(new Run(start, end, zeroed));
  }

  private boolean isZero(ByteBuffer b, int off, int len) {
    return slice(b, off, len).equals(zeros.duplicate().limit(len));
  }

  private static ByteBuffer slice(ByteBuffer b, int off, int len) {
    ByteBuffer s = b.duplicate();
    s.limit(off + len).position(off);
    return s;
  }

  /** Index entries {@code runs} take once split at the writer's entry length. */
  static long entries(List<Run> runs) {
    long n = 0;
    long max = 16376L * 512;
    for (Run r : runs) {
      n += (r.end() - r.start() + max - 1) / max;
    }
    return n;
  }

  /**
   * Bridges gaps between runs (storing the image's bytes there, which read the same as before)
   * until the runs fit in {@code maxEntries} index entries.
   */
  static List<Run> coalesce(List<Run> runs, long maxEntries) {
    List<Run> cur = runs;
    for (long gap = BLOCK; entries(cur) > maxEntries; gap *= 2) {
      List<Run> next = new ArrayList<>();
      for (Run r : cur) {
        if (!next.isEmpty()) {
          Run last = next.get(next.size() - 1);
          if (r.start() - last.end() <= gap) {
            next.set(next.size() - 1, new Run(last.start(), r.end(), false));
            continue;
          }
        }
        next.add(r);
      }
      cur = next;
    }
    return cur;
  }
}
