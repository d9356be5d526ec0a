package dev.obd.image.erofs;

import java.io.IOException;

/**
 * The subset of the EROFS on-disk format (Linux {@code fs/erofs/erofs_fs.h}) this package writes
 * and reads: 4 KiB blocks, the 128-byte superblock at byte 1024, 64-byte extended inodes addressed
 * by nid (32-byte slots from the metadata block), inline extended attributes under the kernel's
 * fixed name prefixes, data flat in whole blocks ({@code FLAT_PLAIN}) or, for symlink targets,
 * right after the inode ({@code FLAT_INLINE}), and sorted directory blocks of 12-byte entries. No
 * compression, no shared attributes, no chunks: every feature field is 0, so kernels since 5.4
 * mount it.
 */
public final class ErofsFormat {
  public static final int BLOCK = 4096;
  public static final int BLOCK_BITS = 12;
  public static final int SUPERBLOCK_OFFSET = 1024;
  public static final int MAGIC = 0xE0F5E1E2;
  public static final int INODE_SLOT = 32;
  public static final int EXTENDED_INODE = 64;
  public static final int DIRENT = 12;
  public static final int XATTR_HEADER = 12;

  public static final int LAYOUT_FLAT_PLAIN = 0;
  public static final int LAYOUT_FLAT_INLINE = 2;

  public static final int S_IFMT = 0170000;
  public static final int S_IFSOCK = 0140000;
  public static final int S_IFLNK = 0120000;
  public static final int S_IFREG = 0100000;
  public static final int S_IFBLK = 0060000;
  public static final int S_IFDIR = 0040000;
  public static final int S_IFCHR = 0020000;
  public static final int S_IFIFO = 0010000;

  /** Attribute name prefixes by EROFS index; an index's whole name when it ends without a dot. */
  private static final String[] PREFIXES = {
    null,
    "user.",
    "system.posix_acl_access",
    "system.posix_acl_default",
    "trusted.",
    null,
    "security."
  };

  private ErofsFormat() {}

  static boolean isDirectory(int mode) {
    return (mode & S_IFMT) == S_IFDIR;
  }

  /** The directory entry's file type for {@code mode} ({@code EROFS_FT_*}). */
  static int fileType(int mode) {
    switch (mode & S_IFMT) {
      case S_IFREG:
        return 1;
      case S_IFDIR:
        return 2;
      case S_IFCHR:
        return 3;
      case S_IFBLK:
        return 4;
      case S_IFIFO:
        return 5;
      case S_IFSOCK:
        return 6;
      case S_IFLNK:
        return 7;
      default:
        return 0;
    }
  }

  /** The prefix index of attribute {@code name} (the longest prefix that matches). */
  static int xattrIndex(String name) throws IOException {
    int best = -1;
    for (int i = 0; i < PREFIXES.length; i++) {
      String p = PREFIXES[i];
      if (p != null
          && name.startsWith(p)
          && (p.endsWith(".") || name.length() == p.length())
          && (best < 0 || p.length() > PREFIXES[best].length())) {
        best = i;
      }
    }
    if (best < 0 || name.length() == PREFIXES[best].length() && PREFIXES[best].endsWith(".")) {
      throw new IOException(
          "extended attribute "
              + name
              + " has no EROFS name prefix (user., trusted., security., system.posix_acl_*)");
    }
    return best;
  }

  /** Attribute {@code name} without its index's prefix. */
  static String xattrSuffix(String name, int index) {
    return name.substring(PREFIXES[index].length());
  }

  /** The full name of the attribute stored as {@code suffix} under {@code index}. */
  static String xattrName(int index, String suffix) throws IOException {
    if (index <= 0 || index >= PREFIXES.length || PREFIXES[index] == null) {
      throw new IOException("extended attribute prefix index " + index + " is not supported");
    }
    return PREFIXES[index] + suffix;
  }

  /** Linux's {@code new_encode_dev}. */
  static int encodeDev(int major, int minor) {
    return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
  }

  static int devMajor(int dev) {
    return (dev & 0xfff00) >>> 8;
  }

  static int devMinor(int dev) {
    return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  }
}
