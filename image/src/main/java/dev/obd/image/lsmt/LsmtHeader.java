package dev.obd.image.lsmt;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The 4096-byte LSMT header or trailer block (one layout for both; only the first 390 bytes are
 * defined). The flag accessors test single bits, as upstream does, so undefined bits are ignored.
 *
 * @param flags u32 flags as stored
 * @param indexOffset byte offset of the index (trailer of a committed or sealed file; 4096 in a
 *     writable index file; 0 where unused)
 * @param indexSize number of 16-byte index entries, padding included
 * @param virtualSize size of the virtual disk in bytes
 * @param uuid the layer's uuid
 * @param parentUuid its parent's uuid, {@link LayerUuid#NIL} for none
 * @param version informational
 * @param subVersion informational
 * @param userTag the commit message bytes (up to 256), trailing zeros removed
 */
public record LsmtHeader(
    int flags,
    long indexOffset,
    long indexSize,
    long virtualSize,
    LayerUuid uuid,
    LayerUuid parentUuid,
    int version,
    int subVersion,
    byte[] userTag) {

  /** Size of the header and trailer blocks. */
  public static final int SIZE = 4096;

  /** Size of the defined part of the struct. */
  static final int STRUCT_SIZE = 390;

  public static final int FLAG_HEADER = 1;
  public static final int FLAG_DATA_FILE = 1 << 1;
  public static final int FLAG_SEALED = 1 << 2;
  public static final int FLAG_SPARSE_RW = 1 << 4;

  /** Flags of a committed file's header and trailer. */
  static final int COMMITTED_HEADER = FLAG_HEADER | FLAG_DATA_FILE | FLAG_SEALED;

  static final int TRAILER = FLAG_DATA_FILE | FLAG_SEALED;

  static final byte[] MAGIC0 = {'L', 'S', 'M', 'T', 0, 1, 2, 0};
  static final byte[] MAGIC1 = {
    0x65,
    0x7E,
    0x63,
    (byte) 0xD2,
    (byte) 0x94,
    0x44,
    0x08,
    0x4C,
    (byte) 0xA2,
    (byte) 0xD2,
    (byte) 0xC8,
    (byte) 0xEC,
    0x4F,
    (byte) 0xCF,
    (byte) 0xAE,
    (byte) 0x8A
  };

  private static final int USER_TAG_BYTES = 256;

  public LsmtHeader {
    if (uuid == null || parentUuid == null) {
      throw new IllegalArgumentException("uuids are required (use LayerUuid.NIL)");
    }
    userTag = userTag == null ? new byte[0] : userTag.clone();
    if (userTag.length > USER_TAG_BYTES) {
      throw new IllegalArgumentException("user tag longer than 256 bytes");
    }
  }

  @Override
  public byte[] userTag() {
    return userTag.clone();
  }

  /** The user tag as text (UTF-8). */
  public String userTagText() {
    return new String(userTag, StandardCharsets.UTF_8);
  }

  public boolean isHeader() {
    return (flags & FLAG_HEADER) != 0;
  }

  public boolean isDataFile() {
    return (flags & FLAG_DATA_FILE) != 0;
  }

  public boolean isSealed() {
    return (flags & FLAG_SEALED) != 0;
  }

  public boolean isSparse() {
    return (flags & FLAG_SPARSE_RW) != 0;
  }

  /** A copy with other flags and index fields. */
  LsmtHeader with(int newFlags, long newIndexOffset, long newIndexSize) {
    return new LsmtHeader(
        newFlags,
        newIndexOffset,
        newIndexSize,
        virtualSize,
        uuid,
        parentUuid,
        version,
        subVersion,
        userTag);
  }

  /** A new header with version 1.1. */
  static LsmtHeader create(
      int flags, long virtualSize, LayerUuid uuid, LayerUuid parent, byte[] userTag) {
    return new LsmtHeader(flags, 0, 0, virtualSize, uuid, parent, 1, 1, userTag);
  }

  /** Whether a block starts with the two LSMT magics (a committed, sealed or writable file). */
  public static boolean hasMagic(byte[] block) {
    return block.length >= 24
        && Arrays.equals(block, 0, 8, MAGIC0, 0, 8)
        && Arrays.equals(block, 8, 24, MAGIC1, 0, 16);
  }

  /** Parses a block that {@link #hasMagic has the magics}. */
  static LsmtHeader parse(byte[] block) {
    ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
    int tagEnd = 134 + USER_TAG_BYTES;
    while (tagEnd > 134 && block[tagEnd - 1] == 0) {
      tagEnd--;
    }
    return new LsmtHeader(
        b.getInt(28),
        b.getLong(32),
        b.getLong(40),
        b.getLong(48),
        LayerUuid.readField(block, 56),
        LayerUuid.readField(block, 93),
        block[132] & 0xFF,
        block[133] & 0xFF,
        Arrays.copyOfRange(block, 134, tagEnd));
  }

  /** Serializes to a 4096-byte block. */
  byte[] toBlock() {
    byte[] block = new byte[SIZE];
    ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
    b.put(MAGIC0).put(MAGIC1);
    b.putInt(24, STRUCT_SIZE);
    b.putInt(28, flags);
    b.putLong(32, indexOffset);
    b.putLong(40, indexSize);
    b.putLong(48, virtualSize);
    uuid.writeField(block, 56);
    parentUuid.writeField(block, 93);
    block[132] = (byte) version;
    block[133] = (byte) subVersion;
    System.arraycopy(userTag, 0, block, 134, userTag.length);
    return block;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof LsmtHeader)) {
      return false;
    }
    LsmtHeader h = (LsmtHeader) o;
    return flags == h.flags
        && indexOffset == h.indexOffset
        && indexSize == h.indexSize
        && virtualSize == h.virtualSize
        && uuid.equals(h.uuid)
        && parentUuid.equals(h.parentUuid)
        && version == h.version
        && subVersion == h.subVersion
        && Arrays.equals(userTag, h.userTag);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(indexOffset) * 31 + uuid.hashCode();
  }

  @Override
  public String toString() {
    return "LsmtHeader[flags=0x"
        + Integer.toHexString(flags)
        + ", indexOffset="
        + indexOffset
        + ", indexSize="
        + indexSize
        + ", virtualSize="
        + virtualSize
        + ", uuid="
        + uuid
        + ", parentUuid="
        + parentUuid
        + ", version="
        + version
        + "."
        + subVersion
        + ", userTag="
        + userTagText()
        + "]";
  }
}
