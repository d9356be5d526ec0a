package dev.obd.image.layer;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.VirtualDisk;
import dev.obd.image.lsmt.IndexMerger;
import dev.obd.image.lsmt.Segment;
import dev.obd.image.lsmt.SegmentIndex;
import dev.obd.image.lsmt.WritableLayer;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The virtual disk of an OverlayBD image: up to 255 read-only lower layers merged as overlaybd
 * merges them, optionally under one writable upper layer (append-only or sparse). A sector no layer
 * maps reads as zeros; a zeroed entry hides the layers below it.
 *
 * <p>Thread-safe and positional. The merged lower index is immutable, so lower reads take no lock
 * at all; the upper layer is looked up optimistically (see {@link WritableLayer}). Offsets and
 * lengths must be multiples of 512, the format's sector size. The stack owns its layers and the
 * upper layer and closes them.
 */
public final class LayerStack implements VirtualDisk {
  /** Sector size of the virtual disk; all I/O must be aligned to it. */
  public static final int SECTOR = 512;

  private static final int OPEN_THREADS = 16;
  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024);

  private final List<Layer> lowers;
  private final ByteSource[] dataByTag;
  private final SegmentIndex merged;
  private final Optional<WritableLayer> upper;
  private final long size;

  private LayerStack(List<Layer> lowers, Optional<WritableLayer> upper) throws IOException {
    if (lowers.size() > IndexMerger.MAX_LAYERS) {
      throw new IllegalArgumentException(
          lowers.size() + " lower layers exceed the limit of " + IndexMerger.MAX_LAYERS);
    }
    this.lowers = List.copyOf(lowers);
    this.dataByTag = new ByteSource[lowers.size()];
    List<SegmentIndex> indexes = new ArrayList<>();
    long lowerSize = 0;
    for (int i = 0; i < lowers.size(); i++) {
      dataByTag[i] = lowers.get(i).data();
      indexes.add(lowers.get(i).index());
      if (lowers.get(i).virtualSize() > 0) {
        lowerSize = lowers.get(i).virtualSize();
      }
    }
    this.merged = IndexMerger.merge(indexes);
    this.upper = upper;
    if (upper.isPresent()) {
      upper.get().adoptVirtualSize(lowerSize);
      this.size = upper.get().virtualSize();
    } else {
      this.size = lowerSize;
    }
  }

  /**
   * Opens the layers in {@code lowersBottomFirst} (each a blob, a ZFile or a raw LSMT file; index 0
   * is the bottom layer) in parallel and stacks them under {@code upper}. The stack takes ownership
   * of every source and of the upper layer, also when opening fails.
   *
   * @throws LayerFormatException naming the layer when one cannot be opened
   */
  public static LayerStack open(List<ByteSource> lowersBottomFirst, Optional<WritableLayer> upper)
      throws IOException {
    List<Layer> layers = new ArrayList<>();
    try {
      if (lowersBottomFirst.size() > IndexMerger.MAX_LAYERS) {
        throw new IllegalArgumentException(
            lowersBottomFirst.size()
                + " lower layers exceed the limit of "
                + IndexMerger.MAX_LAYERS);
      }
      layers.addAll(openAll(lowersBottomFirst));
      return new LayerStack(layers, upper);
    } catch (IOException | RuntimeException e) {
      for (ByteSource s : lowersBottomFirst) {
        closeQuietly(s, e);
      }
      if (upper.isPresent()) {
        closeQuietly(upper.get(), e);
      }
      throw e;
    }
  }

  /** Stacks already opened layers; the stack takes ownership of them and of the upper layer. */
  public static LayerStack of(List<Layer> lowersBottomFirst, Optional<WritableLayer> upper)
      throws IOException {
    return new LayerStack(lowersBottomFirst, upper);
  }

  private static List<Layer> openAll(List<ByteSource> sources) throws IOException {
    if (sources.size() <= 1) {
      List<Layer> out = new ArrayList<>();
      for (int i = 0; i < sources.size(); i++) {
        out.add(openOne(sources, i));
      }
      return out;
    }
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(OPEN_THREADS, sources.size()));
    try {
      List<Future<Layer>> futures = new ArrayList<>();
      for (int i = 0; i < sources.size(); i++) {
        int k = i;
        futures.add(pool.submit(() -> openOne(sources, k)));
      }
      List<Layer> out = new ArrayList<>();
      for (Future<Layer> f : futures) {
        try {
          out.add(f.get());
        } catch (ExecutionException e) {
          Throwable c = e.getCause();
          if (c instanceof IOException) {
            throw (IOException) c;
          }
          if (c instanceof RuntimeException) {
            throw (RuntimeException) c;
          }
          throw new IOException(c);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("open lower layers: interrupted");
        }
      }
      return out;
    } finally {
      pool.shutdownNow();
    }
  }

  private static Layer openOne(List<ByteSource> sources, int i) throws IOException {
    ByteSource s = sources.get(i);
    try {
      return LayerReader.open(s);
    } catch (LayerFormatException e) {
      throw new LayerFormatException(
          "open lower layer " + i + " of " + sources.size() + ": " + e.getMessage(), e);
    }
  }

  /** The lower layers, bottom first. */
  public List<Layer> lowers() {
    return lowers;
  }

  /** The writable upper layer, if any. */
  public Optional<WritableLayer> upper() {
    return upper;
  }

  /** The merged index of the lower layers; an entry's tag is its layer's position in lowers(). */
  public SegmentIndex lowerIndex() {
    return merged;
  }

  /**
   * A snapshot of the whole disk's mapping (upper over lowers): data entries are ranges some layer
   * stores, zeroed entries read as zeros, gaps are holes. The upper layer's entries carry tag
   * {@code lowers().size()}.
   */
  public SegmentIndex mapping() {
    if (upper.isEmpty()) {
      return merged;
    }
    return IndexMerger.overlay(upper.get().index(), lowers.size(), merged);
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    int n = dst.remaining();
    checkRange("read", offset, n);
    long sector = offset / SECTOR;
    long end = sector + n / SECTOR;
    if (upper.isEmpty()) {
      readLower(sector, end, dst);
      return;
    }
    WritableLayer up = upper.get();
    long cur = sector;
    for (Segment s : up.lookup(sector, end - sector)) {
      if (s.offset() > cur) {
        readLower(cur, s.offset(), dst);
      }
      int bytes = s.length() * SECTOR;
      if (s.zeroed()) {
        zeroFill(dst, bytes);
      } else {
        int limit = dst.limit();
        dst.limit(dst.position() + bytes);
        try {
          up.readStored(s.moffset() * SECTOR, dst);
        } finally {
          dst.limit(limit);
        }
      }
      cur = s.end();
    }
    if (cur < end) {
      readLower(cur, end, dst);
    }
  }

  private void readLower(long sector, long end, ByteBuffer dst) throws IOException {
    SegmentIndex idx = merged;
    int i = idx.firstEndingAfter(sector);
    long cur = sector;
    while (cur < end) {
      if (i < idx.size() && idx.offset(i) <= cur) {
        long stop = Math.min(idx.end(i), end);
        int bytes = (int) ((stop - cur) * SECTOR);
        if (idx.zeroed(i)) {
          zeroFill(dst, bytes);
        } else {
          long pos = (idx.moffset(i) + (cur - idx.offset(i))) * SECTOR;
          int limit = dst.limit();
          dst.limit(dst.position() + bytes);
          try {
            dataByTag[idx.tag(i)].readFully(pos, dst);
          } finally {
            dst.limit(limit);
          }
        }
        cur = stop;
        i++;
      } else {
        long next = i < idx.size() ? Math.min(idx.offset(i), end) : end;
        zeroFill(dst, (int) ((next - cur) * SECTOR));
        cur = next;
      }
    }
  }

  @Override
  public boolean writable() {
    return upper.isPresent();
  }

  @Override
  public void write(long offset, ByteBuffer src) throws IOException {
    checkRange("write", offset, src.remaining());
    writableUpper("write").write(offset, src);
  }

  @Override
  public void trim(long offset, long length) throws IOException {
    checkRange("trim", offset, length);
    writableUpper("trim").trim(offset, length);
  }

  @Override
  public void flush() throws IOException {
    if (upper.isPresent()) {
      upper.get().flush();
    }
  }

  @Override
  public void close() throws IOException {
    IOException first = null;
    for (Layer l : lowers) {
      try {
        l.close();
      } catch (IOException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (upper.isPresent()) {
      try {
        upper.get().close();
      } catch (IOException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private WritableLayer writableUpper(String what) throws IOException {
    if (upper.isEmpty()) {
      throw new IOException(what + ": the disk has no writable upper layer");
    }
    return upper.get();
  }

  private void checkRange(String what, long offset, long length) throws IOException {
    if (offset % SECTOR != 0 || length % SECTOR != 0) {
      throw new IllegalArgumentException(
          what
              + " of "
              + length
              + " bytes at offset "
              + offset
              + ": offset and length must be multiples of "
              + SECTOR);
    }
    if (offset < 0 || length < 0 || offset > size - length) {
      throw new EOFException(
          what
              + " of "
              + length
              + " bytes at offset "
              + offset
              + ": beyond the end of the "
              + size
              + "-byte disk");
    }
  }

  /** Writes {@code n} zero bytes into {@code dst} at its position. */
  static void zeroFill(ByteBuffer dst, int n) {
    if (dst.hasArray()) {
      int at = dst.arrayOffset() + dst.position();
      java.util.Arrays.fill(dst.array(), at, at + n, (byte) 0);
      dst.position(dst.position() + n);
      return;
    }
    for (int left = n; left > 0; ) {
      int k = Math.min(left, ZEROS.capacity());
      dst.put(ZEROS.duplicate().limit(k));
      left -= k;
    }
  }

  private static void closeQuietly(java.io.Closeable c, Exception primary) {
    try {
      c.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }
}
