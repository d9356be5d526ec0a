package dev.obd.image.convert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Zeroes the unused bytes of one ext4 directory's blocks, which the kernel leaves holding what its
 * buffers held: in a block of entries, the padding after each name and the rest of each record past
 * it (and all of an unused record); in the blocks of an htree index, the slots past the index's
 * entry count. Anything that does not parse as a directory block is left alone. For the convertor's
 * feature set: extents, no metadata checksums, no inline data.
 */
final class DirectoryBlocks {
  private static final int EXTENT_MAGIC = 0xF30A;
  private static final int INDEX_FL = 0x1000;
  private static final int EXTENTS_FL = 0x80000;

  private DirectoryBlocks() {}

  /** Cleans the blocks of the directory whose first 128 inode bytes are {@code inode}. */
  static void clean(FileChannel ch, ByteBuffer inode, long blockSize) throws IOException {
    int flags = inode.getInt(0x20);
    if ((flags & EXTENTS_FL) == 0) {
      return;
    }
    Map<Long, Long> blocks = new TreeMap<>(); // logical -> physical
    ByteBuffer root = inode.slice(0x28, 60).order(ByteOrder.LITTLE_ENDIAN);
    if (!extents(ch, root, blockSize, blocks, 0)) {
      return;
    }
    Set<Long> index = new HashSet<>();
    if ((flags & INDEX_FL) != 0 && blocks.containsKey(0L)) {
      index.add(0L);
      ByteBuffer b = read(ch, blocks.get(0L) * blockSize, (int) blockSize);
      int levels = b.get(24 + 6) & 0xFF;
      Set<Long> level = entries(b, 32, blockSize);
      for (int l = 0; l < levels && l < 3; l++) {
        Set<Long> next = new HashSet<>();
        for (long logical : level) {
          Long physical = blocks.get(logical);
          if (physical == null || !index.add(logical)) {
            continue;
          }
          next.addAll(entries(read(ch, physical * blockSize, (int) blockSize), 8, blockSize));
        }
        level = next;
      }
    }
    for (Map.Entry<Long, Long> e : blocks.entrySet()) {
      long at = e.getValue() * blockSize;
      ByteBuffer b = read(ch, at, (int) blockSize);
      boolean changed =
          index.contains(e.getKey()) ? cleanIndex(b, e.getKey() == 0 ? 32 : 8) : cleanEntries(b);
      if (changed) {
        b.rewind();
        while (b.hasRemaining()) {
          ch.write(b, at + b.position());
        }
      }
    }
  }

  /**
   * Zeroes the slots past the entry count in the extent tree blocks (below the root in the inode)
   * of the file whose first 128 inode bytes are {@code inode}.
   */
  static void cleanExtentBlocks(FileChannel ch, ByteBuffer inode, long blockSize)
      throws IOException {
    if ((inode.getInt(0x20) & EXTENTS_FL) == 0) {
      return;
    }
    ByteBuffer root = inode.slice(0x28, 60).order(ByteOrder.LITTLE_ENDIAN);
    cleanBelow(ch, root, blockSize, 0);
  }

  private static void cleanBelow(FileChannel ch, ByteBuffer node, long blockSize, int depthSeen)
      throws IOException {
    if ((node.getShort(0) & 0xFFFF) != EXTENT_MAGIC || depthSeen > 5) {
      return;
    }
    int count = node.getShort(2) & 0xFFFF;
    int depth = node.getShort(6) & 0xFFFF;
    if (depth == 0 || 12 + 12L * count > node.capacity()) {
      return;
    }
    for (int i = 0; i < count; i++) {
      int at = 12 + 12 * i;
      long leaf =
          (node.getInt(at + 4) & 0xFFFFFFFFL) | ((long) (node.getShort(at + 8) & 0xFFFF) << 32);
      ByteBuffer child = read(ch, leaf * blockSize, (int) blockSize);
      if ((child.getShort(0) & 0xFFFF) != EXTENT_MAGIC) {
        continue;
      }
      int entries = child.getShort(2) & 0xFFFF;
      if (12 + 12L * entries <= blockSize && zero(child, 12 + 12 * entries, (int) blockSize)) {
        child.rewind();
        while (child.hasRemaining()) {
          ch.write(child, leaf * blockSize + child.position());
        }
      }
      cleanBelow(ch, child, blockSize, depthSeen + 1);
    }
  }

  /** Collects an extent (sub)tree's mapping; false when it does not parse. */
  private static boolean extents(
      FileChannel ch, ByteBuffer node, long blockSize, Map<Long, Long> out, int depthSeen)
      throws IOException {
    if ((node.getShort(0) & 0xFFFF) != EXTENT_MAGIC || depthSeen > 5) {
      return false;
    }
    int count = node.getShort(2) & 0xFFFF;
    int depth = node.getShort(6) & 0xFFFF;
    if (12 + 12L * count > node.capacity()) {
      return false;
    }
    for (int i = 0; i < count; i++) {
      int at = 12 + 12 * i;
      long logical = node.getInt(at) & 0xFFFFFFFFL;
      if (depth == 0) {
        int len = node.getShort(at + 4) & 0xFFFF;
        if (len > 32768) {
          continue; // unwritten: no directory data
        }
        long start =
            ((long) (node.getShort(at + 6) & 0xFFFF) << 32) | (node.getInt(at + 8) & 0xFFFFFFFFL);
        for (int k = 0; k < len; k++) {
          out.put(logical + k, start + k);
        }
      } else {
        long leaf =
            (node.getInt(at + 4) & 0xFFFFFFFFL) | ((long) (node.getShort(at + 8) & 0xFFFF) << 32);
        ByteBuffer child = read(ch, leaf * blockSize, (int) blockSize);
        if (!extents(ch, child, blockSize, out, depthSeen + 1)) {
          return false;
        }
      }
    }
    return true;
  }

  /** The logical blocks an htree node's entries (from {@code at}: limit, count, block...) name. */
  private static Set<Long> entries(ByteBuffer b, int at, long blockSize) {
    Set<Long> out = new HashSet<>();
    int limit = b.getShort(at) & 0xFFFF;
    int count = b.getShort(at + 2) & 0xFFFF;
    if (count > limit || at + 8L * limit > blockSize) {
      return out;
    }
    out.add(b.getInt(at + 4) & 0x0FFFFFFFL);
    for (int i = 1; i < count; i++) {
      out.add(b.getInt(at + 8 * i + 4) & 0x0FFFFFFFL);
    }
    return out;
  }

  /** Zeroes an htree node's slots past its count; returns whether anything changed. */
  private static boolean cleanIndex(ByteBuffer b, int at) {
    int limit = b.getShort(at) & 0xFFFF;
    int count = b.getShort(at + 2) & 0xFFFF;
    if (count > limit || at + 8L * limit > b.capacity()) {
      return false;
    }
    return zero(b, at + 8 * count, b.capacity());
  }

  /** Zeroes what no directory entry uses in a block of entries; returns whether it changed. */
  private static boolean cleanEntries(ByteBuffer b) {
    int size = b.capacity();
    // parse first: a block that is not a chain of valid records is left as it is
    for (int off = 0; off < size; ) {
      int recLen = b.getShort(off + 4) & 0xFFFF;
      int nameLen = b.get(off + 6) & 0xFF;
      if (recLen < 12 || recLen % 4 != 0 || off + recLen > size || 8 + nameLen > recLen) {
        return false;
      }
      off += recLen;
    }
    boolean changed = false;
    for (int off = 0; off < size; ) {
      int recLen = b.getShort(off + 4) & 0xFFFF;
      int nameLen = b.get(off + 6) & 0xFF;
      if (b.getInt(off) == 0) {
        if (nameLen != 0 || b.get(off + 7) != 0) {
          b.put(off + 6, (byte) 0);
          b.put(off + 7, (byte) 0);
          changed = true;
        }
        changed |= zero(b, off + 8, off + recLen);
      } else {
        changed |= zero(b, off + 8 + nameLen, off + recLen);
      }
      off += recLen;
    }
    return changed;
  }

  private static boolean zero(ByteBuffer b, int from, int to) {
    boolean changed = false;
    for (int i = from; i < to; i++) {
      if (b.get(i) != 0) {
        b.put(i, (byte) 0);
        changed = true;
      }
    }
    return changed;
  }

  private static ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    while (b.hasRemaining()) {
      if (ch.read(b, at + b.position()) < 0) {
        throw new IOException("ext4 image ends at " + (at + b.position()));
      }
    }
    return b.flip();
  }
}
