package dev.obd.image.zfile;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The 512-byte ZFile header or trailer block (the same layout for both). {@code flags} keeps every
 * bit as stored; the accessors for single flags look only at the bits the format defines, because
 * real files carry garbage above bit 5.
 *
 * @param flags the u64 flags word as stored
 * @param digest the stored header digest (raw CRC-32C, seed 0, over the block with this field 0)
 * @param indexOffset byte offset of the jump table
 * @param indexSize number of blocks (u32 jump-table entries)
 * @param originalFileSize uncompressed size in bytes
 * @param indexCrc raw CRC-32C (seed 0) of the jump table
 * @param blockSize uncompressed block size
 * @param algorithm the {@code algo} byte (1 = LZ4, 2 = zstd)
 * @param level the {@code level} byte (informational)
 * @param useDict the {@code use_dict} byte (dictionaries are not supported)
 * @param dictSize bytes of dictionary between the header and block 0
 * @param verify whether every block is followed by its 4-byte CRC
 */
public record ZFileHeader(
    long flags,
    int digest,
    long indexOffset,
    long indexSize,
    long originalFileSize,
    int indexCrc,
    int blockSize,
    int algorithm,
    int level,
    int useDict,
    long dictSize,
    boolean verify) {

  /** Size of the header and trailer blocks. */
  public static final int BLOCK = 512;

  /** Size of the defined struct inside the block. */
  static final int STRUCT_SIZE = 96;

  static final long FLAG_HEADER = 1;
  static final long FLAG_DATA = 1 << 1;
  static final long FLAG_SEALED = 1 << 2;
  static final long FLAG_HEADER_OVERWRITE = 1 << 3;
  static final long FLAG_DIGEST = 1 << 4;

  /** Bits 0..5 are defined; bit 5 (index compressed) is never set by any writer. */
  static final long DEFINED_FLAGS = 0x3F;

  static final byte[] MAGIC0 = {'Z', 'F', 'i', 'l', 'e', 0, 1, 0};
  static final byte[] MAGIC1 = {
    't', 'u', 'j', 'i', '.', 'y', 'y', 'f', '@', 'A', 'l', 'i', 'b', 'a', 'b', 'a'
  };
  private static final int DIGEST_OFFSET = 28;

  /** The flags with undefined bits cleared. */
  public long definedFlags() {
    return flags & DEFINED_FLAGS;
  }

  public boolean isHeader() {
    return (flags & FLAG_HEADER) != 0;
  }

  public boolean isDataFile() {
    return (flags & FLAG_DATA) != 0;
  }

  public boolean isSealed() {
    return (flags & FLAG_SEALED) != 0;
  }

  /** The header was rewritten at the end and carries the final index fields. */
  public boolean isHeaderOverwrite() {
    return (flags & FLAG_HEADER_OVERWRITE) != 0;
  }

  /** {@link #digest} and {@link #indexCrc} are valid. */
  public boolean hasDigest() {
    return (flags & FLAG_DIGEST) != 0;
  }

  /** Whether a 512-byte block starts with the two ZFile magics. */
  public static boolean hasMagic(byte[] block) {
    return block.length >= 24
        && Arrays.equals(block, 0, 8, MAGIC0, 0, 8)
        && Arrays.equals(block, 8, 24, MAGIC1, 0, 16);
  }

  /** Parses a block that {@link #hasMagic has the magics}. */
  static ZFileHeader parse(byte[] block) {
    ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
    return new ZFileHeader(
        b.getLong(32),
        b.getInt(DIGEST_OFFSET),
        b.getLong(40),
        b.getLong(48),
        b.getLong(56),
        b.getInt(64),
        b.getInt(72),
        b.get(76) & 0xFF,
        b.get(77) & 0xFF,
        b.get(78) & 0xFF,
        b.getInt(84) & 0xFFFFFFFFL,
        b.get(88) == 1);
  }

  /** The digest this block should carry: raw CRC-32C over the block with the digest field 0. */
  static int computeDigest(byte[] block) {
    byte[] copy = block.clone();
    Arrays.fill(copy, DIGEST_OFFSET, DIGEST_OFFSET + 4, (byte) 0);
    return Crc32c.seedZero(copy, 0, copy.length);
  }

  /** Serializes to a 512-byte block; the digest field is computed when the digest flag is set. */
  byte[] toBlock() {
    byte[] block = new byte[BLOCK];
    ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC0).put(MAGIC1);
    b.putInt(24, STRUCT_SIZE);
    b.putLong(32, flags);
    b.putLong(40, indexOffset);
    b.putLong(48, indexSize);
    b.putLong(56, originalFileSize);
    b.putInt(64, indexCrc);
    b.putInt(72, blockSize);
    b.put(76, (byte) algorithm);
    b.put(77, (byte) level);
    b.put(78, (byte) useDict);
    b.putInt(84, (int) dictSize);
    b.put(88, (byte) (verify ? 1 : 0));
    if (hasDigest()) {
      b.putInt(DIGEST_OFFSET, computeDigest(block));
    }
    return block;
  }
}
