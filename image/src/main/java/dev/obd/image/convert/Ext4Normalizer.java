package dev.obd.image.convert;

import dev.obd.image.sys.Posix;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * Removes from an unmounted ext4 image what the kernel wrote of its own accord while a layer was
 * applied, so that the same layers give the same bytes: times it stamped (inode change, access,
 * creation and deletion times, the modification times of directories whose entries changed, the
 * superblock's mount, write and check times), the random inode generation numbers, the mount count,
 * the last mount point and the lifetime write counter, the bytes of directory blocks no entry uses
 * (the kernel leaves there whatever its buffer held: name padding, the rest of a record), and the
 * blocks no file or metadata uses, which read as zeros: a block the layer wrote and freed again (a
 * directory of what it removed, an extent block) holds its old bytes or zeros depending on whether
 * the kernel wrote its buffer back before freeing it, and a block freed from a lower layer reads
 * the same on a disk carried from layer to layer as on one rebuilt from the layers.
 *
 * <p>A time counts as stamped when it is at or after {@code since}, the moment the layer's
 * application began: no tar entry of an image built before the conversion carries one. Such times
 * become {@code fixed} (nanoseconds zero). The file system must have no metadata checksums (the
 * convertor's feature set has none), since nothing is recomputed.
 */
final class Ext4Normalizer {
  /** The time stamped times become: the epoch, as reproducible builds without SOURCE_DATE_EPOCH. */
  static final long FIXED_TIME = 0;

  private static final int SUPERBLOCK = 1024;
  private static final int MAGIC = 0xEF53;
  private static final int INCOMPAT_64BIT = 0x80;
  private static final int RO_COMPAT_METADATA_CSUM = 0x400;
  private static final int RO_COMPAT_GDT_CSUM = 0x10;
  private static final int COMPAT_SPARSE_SUPER2 = 0x200;

  /** Inode time fields: offset of the seconds, offset of the extra word (-1: none). */
  private static final int[][] INODE_TIMES = {
    {0x08, 0x8C}, // atime
    {0x0C, 0x84}, // ctime
    {0x10, 0x88}, // mtime
    {0x90, 0x94}, // crtime
    {0x14, -1}, // dtime
  };

  private Ext4Normalizer() {}

  /** What {@link #normalize} changed. */
  record Result(int inodes, int superblocks) {}

  static Result normalize(Path image, long since, long fixed) throws IOException {
    try (FileChannel ch =
        FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer sb = read(ch, SUPERBLOCK, 1024);
      if ((sb.getShort(0x38) & 0xFFFF) != MAGIC) {
        throw new IOException(image + " holds no ext4 file system");
      }
      int roCompat = sb.getInt(0x64);
      if ((roCompat & (RO_COMPAT_METADATA_CSUM | RO_COMPAT_GDT_CSUM)) != 0) {
        throw new IOException(image + ": checksummed metadata cannot be normalized in place");
      }
      long blockSize = 1024L << sb.getInt(0x18);
      long blocksPerGroup = sb.getInt(0x20) & 0xFFFFFFFFL;
      long inodesPerGroup = sb.getInt(0x28) & 0xFFFFFFFFL;
      int inodeSize = sb.getShort(0x58) & 0xFFFF;
      long firstDataBlock = sb.getInt(0x14) & 0xFFFFFFFFL;
      boolean is64 = (sb.getInt(0x60) & INCOMPAT_64BIT) != 0;
      int descSize = is64 ? sb.getShort(0xFE) & 0xFFFF : 32;
      long blocks = (sb.getInt(0x04) & 0xFFFFFFFFL) | (is64 ? (long) sb.getInt(0x150) << 32 : 0);
      long groups = (blocks - firstDataBlock + blocksPerGroup - 1) / blocksPerGroup;

      int superblocks = 0;
      patchSuperblock(sb, since, fixed);
      write(ch, sb, SUPERBLOCK);
      superblocks++;
      if ((sb.getInt(0x5C) & COMPAT_SPARSE_SUPER2) != 0) {
        for (int i = 0; i < 2; i++) {
          long g = sb.getInt(0x24C + 4 * i) & 0xFFFFFFFFL;
          if (g == 0 || g >= groups) {
            continue;
          }
          long at = (firstDataBlock + g * blocksPerGroup) * blockSize;
          ByteBuffer backup = read(ch, at, 1024);
          if ((backup.getShort(0x38) & 0xFFFF) == MAGIC) {
            patchSuperblock(backup, since, fixed);
            write(ch, backup, at);
            superblocks++;
          }
        }
      }

      List<Posix.Extent> data = Posix.dataExtents(image, ch.size());
      List<ByteBuffer> changedDirs = new ArrayList<>();
      List<ByteBuffer> deepFiles = new ArrayList<>();
      long gdt = (firstDataBlock + 1) * blockSize;
      ByteBuffer descs = read(ch, gdt, (int) (groups * descSize));
      int inodes = 0;
      // a deleted inode's deletion time must be set, and below the inode count it would read as
      // the next entry of the orphan list
      long lowestDtime = sb.getInt(0x00) & 0xFFFFFFFFL;
      for (int g = 0; g < groups; g++) {
        int d = g * descSize;
        long table =
            (descs.getInt(d + 0x08) & 0xFFFFFFFFL)
                | (descSize >= 64 ? (long) descs.getInt(d + 0x28) << 32 : 0);
        long tableStart = table * blockSize;
        long tableEnd = tableStart + inodesPerGroup * inodeSize;
        // a hole of the sparse image holds zeroed inodes, which no kernel stamped: only the data
        // extents of the table are read
        for (Posix.Extent e : data) {
          long from = Math.max(e.start(), tableStart);
          long to = Math.min(e.end(), tableEnd);
          if (from >= to) {
            continue;
          }
          from -= (from - tableStart) % blockSize;
          to += (blockSize - (to - tableStart) % blockSize) % blockSize;
          to = Math.min(to, tableEnd);
          ByteBuffer t = read(ch, from, (int) (to - from));
          BitSet dirty = new BitSet();
          for (int i = 0; i < (to - from) / inodeSize; i++) {
            if (patchInode(t, i * inodeSize, inodeSize, since, fixed, lowestDtime)) {
              inodes++;
              dirty.set((int) ((long) i * inodeSize / blockSize));
              byte[] copy = new byte[128];
              t.get(i * inodeSize, copy);
              ByteBuffer inode = ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN);
              if (isLiveDirectory(t, i * inodeSize)) {
                changedDirs.add(inode);
              } else if ((t.getShort(i * inodeSize + 0x28 + 6) & 0xFFFF) > 0) {
                deepFiles.add(inode);
              }
            }
          }
          // only the blocks that changed
          for (int b = dirty.nextSetBit(0); b >= 0; b = dirty.nextSetBit(b + 1)) {
            int len = (int) Math.min(blockSize, t.capacity() - b * blockSize);
            write(ch, t.slice((int) (b * blockSize), len), from + b * blockSize);
          }
        }
      }
      for (ByteBuffer dir : changedDirs) {
        DirectoryBlocks.clean(ch, dir, blockSize);
      }
      for (ByteBuffer file : deepFiles) {
        DirectoryBlocks.cleanExtentBlocks(ch, file, blockSize);
      }
      ch.force(false);
      zeroFreeBlocks(
          ch, image, data, descs, descSize, blocks, firstDataBlock, blocksPerGroup, blockSize);
      return new Result(inodes, superblocks);
    }
  }

  /** Punches the blocks the groups' block bitmaps mark free out of the image's data extents. */
  private static void zeroFreeBlocks(
      FileChannel ch,
      Path image,
      List<Posix.Extent> data,
      ByteBuffer descs,
      int descSize,
      long blocks,
      long firstDataBlock,
      long blocksPerGroup,
      long blockSize)
      throws IOException {
    List<Posix.Extent> free = new ArrayList<>();
    long loadedGroup = -1;
    BitSet used = null;
    for (Posix.Extent e : data) {
      long first = Math.max(e.start() / blockSize, firstDataBlock);
      long end = Math.min((e.end() + blockSize - 1) / blockSize, blocks);
      for (long b = first; b < end; b++) {
        long g = (b - firstDataBlock) / blocksPerGroup;
        if (g != loadedGroup) {
          int d = (int) (g * descSize);
          long bitmap =
              (descs.getInt(d) & 0xFFFFFFFFL)
                  | (descSize >= 64 ? (long) descs.getInt(d + 0x20) << 32 : 0);
          used = BitSet.valueOf(read(ch, bitmap * blockSize, (int) (blocksPerGroup / 8)));
          loadedGroup = g;
        }
        if (used.get((int) ((b - firstDataBlock) % blocksPerGroup))) {
          continue;
        }
        Posix.Extent last = free.isEmpty() ? null : free.get(free.size() - 1);
        if (last != null && last.end() == b * blockSize) {
          free.set(free.size() - 1, new Posix.Extent(last.start(), (b + 1) * blockSize));
        } else {
          free.add(new Posix.Extent(b * blockSize, (b + 1) * blockSize));
        }
      }
    }
    Posix.punchHoles(image, free);
  }

  private static void patchSuperblock(ByteBuffer sb, long since, long fixed) {
    // s_mtime, s_wtime, s_lastcheck, s_mkfs_time, with their high bytes
    int[][] times = {{0x2C, 0x275}, {0x30, 0x274}, {0x40, 0x277}, {0x108, 0x276}};
    for (int[] t : times) {
      long seconds = (sb.getInt(t[0]) & 0xFFFFFFFFL) | ((long) (sb.get(t[1]) & 0xFF) << 32);
      if (seconds >= since) {
        sb.putInt(t[0], (int) fixed);
        sb.put(t[1], (byte) (fixed >>> 32));
      }
    }
    sb.putShort(0x34, (short) 0); // s_mnt_count
    for (int i = 0; i < 64; i++) {
      sb.put(0x88 + i, (byte) 0); // s_last_mounted
    }
    sb.putLong(0x178, 0); // s_kbytes_written
  }

  /**
   * Zeroes the extent slots of an inode's extent root past its entry count, which keep what a split
   * or merge left there.
   */
  private static void cleanExtentRoot(ByteBuffer t, int at) {
    if ((t.getInt(at + 0x20) & 0x80000) == 0 || (t.getShort(at + 0x28) & 0xFFFF) != 0xF30A) {
      return; // no extents: i_block holds a symlink's target or a device number
    }
    int entries = t.getShort(at + 0x28 + 2) & 0xFFFF;
    for (int i = 0x28 + 12 + 12 * Math.min(entries, 4); i < 0x28 + 60; i++) {
      t.put(at + i, (byte) 0);
    }
  }

  /** Whether the inode at {@code at} is a directory in use (mode, links, no deletion time). */
  private static boolean isLiveDirectory(ByteBuffer t, int at) {
    return (t.getShort(at) & 0xF000) == 0x4000
        && (t.getShort(at + 0x1A) & 0xFFFF) > 0
        && t.getInt(at + 0x14) == 0;
  }

  /** Patches one inode slot; returns whether it changed. */
  private static boolean patchInode(
      ByteBuffer t, int at, int inodeSize, long since, long fixed, long lowestDtime) {
    int extraIsize = inodeSize > 128 ? t.getShort(at + 0x80) & 0xFFFF : 0;
    int extraEnd = 128 + extraIsize;
    boolean changed = false;
    for (int[] f : INODE_TIMES) {
      if (f[0] >= 128 && f[0] + 4 > extraEnd) {
        continue; // crtime lives in the extra fields
      }
      boolean hasExtra = f[1] >= 0 && f[1] + 4 <= extraEnd;
      long seconds = t.getInt(at + f[0]);
      if (hasExtra) {
        seconds += (long) (t.getInt(at + f[1]) & 3) << 32;
      } else {
        seconds &= 0xFFFFFFFFL;
      }
      if (seconds >= since) {
        t.putInt(at + f[0], (int) (f[0] == 0x14 ? Math.max(fixed, lowestDtime) : fixed));
        if (hasExtra) {
          t.putInt(at + f[1], (int) ((fixed >> 32) & 3));
        }
        changed = true;
      }
    }
    if (changed) {
      cleanExtentRoot(t, at);
      t.putInt(at + 0x64, 0); // i_generation: random, for NFS handles
      t.putInt(at + 0x24, 0); // l_i_version
      if (0x98 + 4 <= extraEnd) {
        t.putInt(at + 0x98, 0); // i_version_hi
      }
    }
    return changed;
  }

  private static ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    while (b.hasRemaining()) {
      int k = ch.read(b, at + b.position());
      if (k < 0) {
        throw new IOException("ext4 image ends at " + (at + b.position()));
      }
    }
    return b.flip();
  }

  private static void write(FileChannel ch, ByteBuffer b, long at) throws IOException {
    b.rewind();
    while (b.hasRemaining()) {
      ch.write(b, at + b.position());
    }
  }
}
