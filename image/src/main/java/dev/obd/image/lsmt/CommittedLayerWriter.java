package dev.obd.image.lsmt;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;

/**
 * Streams a committed LSMT layer ({@code overlaybd.commit} format) to a channel: header (flags
 * 0x07), data packed from sector 8 on, the sorted index padded with invalid entries to a multiple
 * of 256, and a trailer (0x06) locating the index. Callers add ranges in increasing virtual order;
 * adjacent ranges are merged into one entry as {@code overlaybd-commit} does, and long ones split.
 * The channel may be a plain file or a {@link dev.obd.image.zfile.ZFileWriter}.
 *
 * <p>Not thread-safe. The channel is not closed.
 */
public final class CommittedLayerWriter {
  /**
   * Entries are split at this length (a multiple of 8 below {@link Segment#MAX_LENGTH}) so that
   * ranges stay 4 KiB aligned inside the file.
   */
  static final int SPLIT_LENGTH = 16376;

  /** Entries (padding included) readers accept in a read-only layer. */
  public static final int MAX_ENTRIES = 999_936; // largest multiple of 256 <= 1,000,000

  private static final int PAD_TO = 256;

  private final WritableByteChannel out;
  private final LsmtHeader header;
  private long cursor = LsmtHeader.SIZE / 512;
  private long nextOffset;
  private long[] lo = new long[256];
  private long[] hi = new long[256];
  private int n;
  private boolean finished;

  private CommittedLayerWriter(WritableByteChannel out, LsmtHeader header) {
    this.out = out;
    this.header = header;
  }

  /**
   * Starts a layer; writes the header.
   *
   * @param virtualSize the virtual disk size in bytes (a multiple of 512)
   * @param uuid this layer's uuid
   * @param parent the parent layer's uuid, or {@link LayerUuid#NIL}
   * @param userTag commit message bytes (at most 256), may be empty
   */
  public static CommittedLayerWriter start(
      WritableByteChannel out, long virtualSize, LayerUuid uuid, LayerUuid parent, byte[] userTag)
      throws IOException {
    if (virtualSize < 0 || virtualSize % 512 != 0) {
      throw new IllegalArgumentException(
          "virtual size " + virtualSize + " is not a non-negative multiple of 512");
    }
    LsmtHeader h =
        LsmtHeader.create(LsmtHeader.COMMITTED_HEADER, virtualSize, uuid, parent, userTag);
    CommittedLayerWriter w = new CommittedLayerWriter(out, h);
    writeFully(out, ByteBuffer.wrap(h.toBlock()));
    return w;
  }

  /**
   * Stores {@code data} (a multiple of 512 bytes) as the content of the disk from {@code sector}.
   */
  public void writeData(long sector, ByteBuffer data) throws IOException {
    int bytes = data.remaining();
    if (bytes % 512 != 0) {
      throw new IllegalArgumentException("data of " + bytes + " bytes is not a multiple of 512");
    }
    long sectors = bytes / 512;
    checkOrder(sector, sectors);
    long s = sector;
    long m = cursor;
    for (long left = sectors; left > 0; ) {
      int len = (int) Math.min(left, SPLIT_LENGTH);
      add(s, len, m, false);
      s += len;
      m += len;
      left -= len;
    }
    writeFully(out, data);
    cursor += sectors;
    nextOffset = sector + sectors;
  }

  /** Records that {@code sectors} sectors from {@code sector} read as zeros (hiding lower data). */
  public void writeZeroed(long sector, long sectors) {
    checkOrder(sector, sectors);
    long s = sector;
    for (long left = sectors; left > 0; ) {
      int len = (int) Math.min(left, SPLIT_LENGTH);
      add(s, len, cursor, true);
      s += len;
      left -= len;
    }
    nextOffset = sector + sectors;
  }

  /** Entries written so far (before padding). */
  public int entryCount() {
    return n;
  }

  /** Data sectors written so far. */
  public long dataSectors() {
    return cursor - LsmtHeader.SIZE / 512;
  }

  /**
   * Writes the index and the trailer. Returns the total number of bytes written.
   *
   * @throws IOException when the index would exceed what readers accept
   */
  public long finish() throws IOException {
    if (finished) {
      throw new IllegalStateException("already finished");
    }
    finished = true;
    int padded = (n + PAD_TO - 1) / PAD_TO * PAD_TO;
    if (padded > MAX_ENTRIES) {
      throw new IOException(
          "commit LSMT layer: "
              + n
              + " index entries exceed the "
              + MAX_ENTRIES
              + " readers accept; coalesce ranges");
    }
    ByteBuffer index = ByteBuffer.allocate(16 * padded).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < padded; i++) {
      if (i < n) {
        index.putLong(lo[i]).putLong(hi[i]);
      } else {
        index.putLong(Segment.INVALID_OFFSET).putLong(0);
      }
    }
    index.flip();
    long indexOffset = cursor * 512;
    writeFully(out, index);
    LsmtHeader trailer = header.with(LsmtHeader.TRAILER, indexOffset, padded);
    writeFully(out, ByteBuffer.wrap(trailer.toBlock()));
    return indexOffset + 16L * padded + LsmtHeader.SIZE;
  }

  private void checkOrder(long sector, long sectors) {
    if (finished) {
      throw new IllegalStateException("already finished");
    }
    if (sector < nextOffset) {
      throw new IllegalArgumentException(
          "range at sector " + sector + " is not after the previous one ending at " + nextOffset);
    }
    if (sectors <= 0 || sector + sectors > Segment.INVALID_OFFSET) {
      throw new IllegalArgumentException("bad range " + sector + "+" + sectors);
    }
  }

  private void add(long offset, int length, long moffset, boolean zeroed) {
    if (n > 0) {
      long prevOffset = lo[n - 1] & SegmentIndex.OFFSET_MASK;
      int prevLength = (int) (lo[n - 1] >>> 50);
      long prevM = hi[n - 1] & SegmentIndex.MOFFSET_MASK;
      boolean prevZeroed = (hi[n - 1] & SegmentIndex.ZEROED_BIT) != 0;
      boolean adjacent =
          prevOffset + prevLength == offset
              && prevZeroed == zeroed
              && (zeroed || prevM + prevLength == moffset)
              && prevLength + length <= SPLIT_LENGTH;
      if (adjacent) {
        lo[n - 1] = prevOffset | ((long) (prevLength + length) << 50);
        return;
      }
    }
    if (n == lo.length) {
      lo = Arrays.copyOf(lo, n * 2);
      hi = Arrays.copyOf(hi, n * 2);
    }
    Segment s = new Segment(offset, length, moffset, zeroed, 0);
    lo[n] = s.packedLow();
    hi[n] = s.packedHigh();
    n++;
  }

  private static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }
}
