package dev.obd.image.lsmt;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A read-only LSMT layer file: committed ({@code overlaybd.commit}) or sealed ({@code
 * overlaybd.sealed}). Opening follows upstream's loader: header and trailer magics and flags, the
 * index located by the trailer, padding entries dropped, tags reset to 0, and every entry checked
 * (sorted, non-overlapping, data inside the data area), so that a hostile index fails here instead
 * of at read time. Layer metadata (virtual size, uuids) comes from the trailer.
 *
 * <p>Immutable and thread-safe. Closing closes the source.
 */
public final class LsmtFile implements Closeable {
  /** Upstream's limit on entries (padding included) of a read-only layer's index. */
  public static final long MAX_INDEX_SIZE = 1_000_000;

  private final ByteSource source;
  private final LsmtHeader header;
  private final LsmtHeader trailer;
  private final SegmentIndex index;

  private LsmtFile(ByteSource source, LsmtHeader header, LsmtHeader trailer, SegmentIndex index) {
    this.source = source;
    this.header = header;
    this.trailer = trailer;
    this.index = index;
  }

  /** Whether {@code source} starts with the LSMT magics. */
  public static boolean detect(ByteSource source) throws IOException {
    if (source.size() < LsmtHeader.SIZE) {
      return false;
    }
    return LsmtHeader.hasMagic(readBlock(source, 0));
  }

  /**
   * The LSMT header block at offset 0 of {@code source}, whatever kind of LSMT file it is
   * (committed, sealed, writable data or index file); empty when there is none.
   */
  public static java.util.Optional<LsmtHeader> readHeader(ByteSource source) throws IOException {
    if (!detect(source)) {
      return java.util.Optional.empty();
    }
    return java.util.Optional.of(LsmtHeader.parse(readBlock(source, 0)));
  }

  /**
   * Opens a committed or sealed LSMT file.
   *
   * @throws LayerFormatException when the file is not one, naming what is wrong and where
   */
  public static LsmtFile open(ByteSource source) throws IOException {
    String name = source.describe();
    long size = source.size();
    if (size < 2L * LsmtHeader.SIZE) {
      throw new LayerFormatException(
          "open LSMT file " + name + ": " + size + " bytes is too short for a header and trailer");
    }
    byte[] hb = readBlock(source, 0);
    if (!LsmtHeader.hasMagic(hb)) {
      throw new LayerFormatException("open LSMT file " + name + " at offset 0: bad magic");
    }
    LsmtHeader header = LsmtHeader.parse(hb);
    if (!header.isHeader()) {
      throw new LayerFormatException(
          "open LSMT file " + name + " at offset 0: header block lacks the header flag");
    }
    if (!header.isDataFile()) {
      throw new LayerFormatException(
          "open LSMT file "
              + name
              + ": this is the index file of a writable layer; open it with its data file");
    }
    long trailerOffset = size - LsmtHeader.SIZE;
    byte[] tb = readBlock(source, trailerOffset);
    if (!LsmtHeader.hasMagic(tb)) {
      throw new LayerFormatException(
          "open LSMT trailer of "
              + name
              + " at offset "
              + trailerOffset
              + ": bad magic"
              + (header.isSealed()
                  ? ""
                  : " (the header says this is an unsealed writable data file: open it as a"
                      + " writable layer with its index file)"));
    }
    LsmtHeader trailer = LsmtHeader.parse(tb);
    if (trailer.isHeader() || !trailer.isDataFile() || !trailer.isSealed()) {
      throw new LayerFormatException(
          "open LSMT trailer of "
              + name
              + " at offset "
              + trailerOffset
              + ": flags 0x"
              + Integer.toHexString(trailer.flags())
              + " are not those of a sealed trailer");
    }
    long n = trailer.indexSize();
    long indexOffset = trailer.indexOffset();
    if (n < 0 || n > MAX_INDEX_SIZE) {
      throw new LayerFormatException(
          "open LSMT index of "
              + name
              + ": "
              + n
              + " entries exceed the limit of "
              + MAX_INDEX_SIZE);
    }
    if (indexOffset < LsmtHeader.SIZE
        || indexOffset > trailerOffset
        || 16 * n > trailerOffset - indexOffset) {
      throw new LayerFormatException(
          "open LSMT index of "
              + name
              + ": "
              + n
              + " entries at offset "
              + indexOffset
              + " do not fit between the header and the trailer at "
              + trailerOffset);
    }
    SegmentIndex index = readIndex(source, indexOffset, (int) n, name);
    return new LsmtFile(source, header, trailer, index);
  }

  private static SegmentIndex readIndex(ByteSource source, long at, int n, String name)
      throws IOException {
    long dataLimit = at / 512; // data entries must end before the index
    long[] lo = new long[n];
    long[] hi = new long[n];
    int kept = 0;
    long prevEnd = 0;
    ByteBuffer chunk = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < n; ) {
      chunk.clear();
      chunk.limit((int) Math.min(chunk.capacity(), 16L * (n - i)));
      source.readFully(at + 16L * i, chunk);
      chunk.flip();
      for (; chunk.remaining() >= 16; i++) {
        long l = chunk.getLong();
        long h = chunk.getLong();
        long offset = l & SegmentIndex.OFFSET_MASK;
        if (offset == Segment.INVALID_OFFSET) {
          continue;
        }
        int length = (int) (l >>> 50);
        if (length == 0) {
          continue; // carries nothing; upstream never writes one
        }
        long moffset = h & SegmentIndex.MOFFSET_MASK;
        boolean zeroed = (h & SegmentIndex.ZEROED_BIT) != 0;
        String where =
            "open LSMT index entry "
                + i
                + " of "
                + name
                + " at offset "
                + (at + 16L * i)
                + " (sectors "
                + offset
                + "+"
                + length
                + (zeroed ? " zeroed" : " at moffset " + moffset)
                + "): ";
        if (offset < prevEnd) {
          throw new LayerFormatException(
              where + "overlaps or precedes the previous entry ending at sector " + prevEnd);
        }
        if (moffset < 8 || (zeroed ? moffset > dataLimit : moffset + length > dataLimit)) {
          throw new LayerFormatException(
              where + "points outside the data area [8, " + dataLimit + ") sectors");
        }
        prevEnd = offset + length;
        lo[kept] = l;
        hi[kept] = h & (SegmentIndex.MOFFSET_MASK | SegmentIndex.ZEROED_BIT); // tag reset to 0
        kept++;
      }
    }
    return new SegmentIndex(lo, hi, kept);
  }

  /** The header block at offset 0. */
  public LsmtHeader header() {
    return header;
  }

  /** The trailer block, the source of the layer's metadata. */
  public LsmtHeader trailer() {
    return trailer;
  }

  /** The layer's entries (padding dropped, tags 0). */
  public SegmentIndex index() {
    return index;
  }

  /** Entries stored in the file including padding. */
  public long storedEntries() {
    return trailer.indexSize();
  }

  /** The virtual disk size this layer declares (may be 0 in upper layers of old stacks). */
  public long virtualSize() {
    return trailer.virtualSize();
  }

  /** The bytes of this LSMT file; data entries are read from here. */
  public ByteSource source() {
    return source;
  }

  @Override
  public void close() throws IOException {
    source.close();
  }

  private static byte[] readBlock(ByteSource source, long at) throws IOException {
    byte[] b = new byte[LsmtHeader.SIZE];
    source.readFully(at, ByteBuffer.wrap(b));
    return b;
  }
}
