package dev.obd.image.zfile;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Where each compressed block of a ZFile starts, loaded from the jump table and checked: the fields
 * that locate it, every stored length against the codec's bound, the table's CRC. Stored as
 * upstream keeps it, a 64-bit start per group of blocks spanning 64 KiB uncompressed plus a 16-bit
 * offset per block, so a table costs about 2 bytes per block. Immutable and thread-safe.
 */
final class JumpTable {
  /** Blocks are grouped so that 16-bit offsets from the group start suffice (upstream layout). */
  private static final int GROUP_BYTES = 65536;

  private final long[] groupStart;
  private final char[] delta;
  private final int groupShift;
  private final int blockCount;

  private JumpTable(long[] groupStart, char[] delta, int groupShift, int blockCount) {
    this.groupStart = groupStart;
    this.delta = delta;
    this.groupShift = groupShift;
    this.blockCount = blockCount;
  }

  /** Number of blocks holding the original bytes. */
  int blockCount() {
    return blockCount;
  }

  /** Byte offset of block {@code i} in the source; {@code i == blockCount()} gives the end. */
  long blockStart(int i) {
    return groupStart[i >>> groupShift] + delta[i];
  }

  /**
   * Loads and checks the jump table that {@code e} (the rewritten header or the trailer) describes;
   * it must lie below {@code indexLimit}.
   */
  static JumpTable load(ByteSource source, ZFileHeader e, long indexLimit) throws IOException {
    String where = "open ZFile " + source.describe();
    if (Compression.fromCode(e.algorithm()) == null) {
      throw new LayerFormatException(
          where + ": unsupported compression algorithm " + e.algorithm() + " (1 = LZ4, 2 = zstd)");
    }
    if (e.useDict() != 0) {
      throw new LayerFormatException(where + ": compression dictionaries are not supported");
    }
    int bs = e.blockSize();
    if (bs < 512 || bs > ZFileReader.MAX_BLOCK_SIZE || Integer.bitCount(bs) != 1) {
      throw new LayerFormatException(
          where
              + ": block size "
              + bs
              + " is not a power of two between 512 and "
              + ZFileReader.MAX_BLOCK_SIZE);
    }
    long original = e.originalFileSize();
    long needed = original < 0 ? -1 : (original + bs - 1) / bs;
    if (needed < 0 || needed > Integer.MAX_VALUE - 1L) {
      throw new LayerFormatException(where + ": absurd original size " + original);
    }
    long n = e.indexSize();
    if (n < 0 || n > ZFileReader.MAX_INDEX_SIZE) {
      throw new LayerFormatException(
          where
              + ": jump table of "
              + n
              + " entries exceeds the limit "
              + ZFileReader.MAX_INDEX_SIZE);
    }
    if (n < needed) {
      throw new LayerFormatException(
          where
              + ": jump table has "
              + n
              + " entries but the original size "
              + original
              + " needs "
              + needed);
    }
    long dataStart = ZFileHeader.BLOCK + e.dictSize();
    long tableOffset = e.indexOffset();
    if (tableOffset < dataStart || tableOffset > indexLimit || 4 * n > indexLimit - tableOffset) {
      throw new LayerFormatException(
          where
              + ": jump table at offset "
              + tableOffset
              + " with "
              + n
              + " entries lies outside ["
              + dataStart
              + ", "
              + indexLimit
              + ")");
    }

    int count = (int) needed;
    int groupShift = Integer.numberOfTrailingZeros(GROUP_BYTES / bs);
    long[] groupStart = new long[(count >>> groupShift) + 1];
    char[] delta = new char[count + 1];
    int maxStored = BlockCodec.of(Compression.fromCode(e.algorithm())).maxCompressedLength(bs) + 4;
    int minStored = e.verify() ? 5 : 1;

    String problem = null; // reported after the table CRC, which explains most damage better
    CRC32C crc = new CRC32C();
    ByteBuffer chunk = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
    long pos = dataStart;
    long group = dataStart;
    for (long i = 0, read = 0; i < n; ) {
      chunk.clear();
      int bytes = (int) Math.min(chunk.capacity(), 4 * n - read);
      chunk.limit(bytes);
      source.readFully(tableOffset + read, chunk);
      chunk.flip();
      crc.update(chunk.duplicate());
      read += bytes;
      for (; chunk.remaining() >= 4; i++) {
        long len = chunk.getInt() & 0xFFFFFFFFL;
        if (i >= count) {
          continue; // entries beyond the original size are tolerated but unused
        }
        int b = (int) i;
        if ((b & ((1 << groupShift) - 1)) == 0) {
          group = pos;
          groupStart[b >>> groupShift] = pos;
        }
        long d = pos - group;
        if (d >= 65535 && problem == null) {
          problem = "jump table entry " + b + " is more than 64 KiB past its group start";
        }
        delta[b] = (char) d;
        if ((len < minStored || len > maxStored) && problem == null) {
          problem =
              "jump table entry "
                  + b
                  + " gives block length "
                  + len
                  + ", outside ["
                  + minStored
                  + ", "
                  + maxStored
                  + "] for block size "
                  + bs;
        }
        pos += len;
      }
    }
    if ((count & ((1 << groupShift) - 1)) == 0) {
      group = pos;
      groupStart[count >>> groupShift] = pos;
    }
    long d = pos - group;
    if (d >= 65535 && problem == null) {
      problem = "last block ends more than 64 KiB past its group start";
    }
    delta[count] = (char) d;
    if (pos > tableOffset && problem == null) {
      problem = "blocks end at offset " + pos + ", past the jump table at offset " + tableOffset;
    }
    if (e.hasDigest()) {
      int computed = Crc32c.seedZeroFromStandard((int) crc.getValue(), 4 * n);
      if (computed != e.indexCrc()) {
        throw new LayerFormatException(
            where
                + ": jump table at offset "
                + tableOffset
                + " fails its CRC (stored "
                + ZFileReader.hex(e.indexCrc())
                + ", computed "
                + ZFileReader.hex(computed)
                + ")");
      }
    }
    if (problem != null) {
      throw new LayerFormatException(where + ": " + problem);
    }
    return new JumpTable(groupStart, delta, groupShift, count);
  }
}
