package dev.obd.image.erofs;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;

/**
 * One inode of an EROFS tree being built: a directory, regular file, symlink, device, FIFO or
 * socket with its owner, mode, modification time and extended attributes. A hard link is the same
 * node under several names. A regular file's bytes are not held here but in the image, at {@link
 * #dataBlock} (contiguous, {@link ErofsFormat#BLOCK}-byte blocks).
 */
public final class ErofsNode {
  /** Names in the order EROFS keeps directory entries: by their UTF-8 bytes, unsigned. */
  public static final Comparator<String> NAME_ORDER =
      (a, b) ->
          Arrays.compareUnsigned(
              a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));

  /** The full {@code st_mode}: file type and permission bits. */
  public int mode;

  public int uid;
  public int gid;
  public long mtime;
  public int mtimeNanos;

  /** Extended attributes by full name ({@code user.x}, {@code security.capability}). */
  public final Map<String, byte[]> xattrs = new TreeMap<>();

  /** A directory's entries, without {@code .} and {@code ..}; null for other types. */
  public final Map<String, ErofsNode> children;

  /** A regular file's size in bytes. */
  public long size;

  /** The first block of a regular file's bytes (when {@link #size} is not 0). */
  public long dataBlock;

  /** A symlink's target. */
  public byte[] linkTarget;

  /** A device's numbers. */
  public int rdevMajor;

  public int rdevMinor;

  private ErofsNode(int mode) {
    this.mode = mode;
    this.children = ErofsFormat.isDirectory(mode) ? new TreeMap<>(NAME_ORDER) : null;
  }

  /** A node of the type in {@code mode}'s file type bits, owned by root, time 0. */
  public static ErofsNode of(int mode) {
    int type = mode & ErofsFormat.S_IFMT;
    if (type != ErofsFormat.S_IFDIR
        && type != ErofsFormat.S_IFREG
        && type != ErofsFormat.S_IFLNK
        && type != ErofsFormat.S_IFCHR
        && type != ErofsFormat.S_IFBLK
        && type != ErofsFormat.S_IFIFO
        && type != ErofsFormat.S_IFSOCK) {
      throw new IllegalArgumentException("mode " + Integer.toOctalString(mode) + " has no type");
    }
    return new ErofsNode(mode);
  }

  public boolean isDirectory() {
    return children != null;
  }

  public boolean isRegularFile() {
    return (mode & ErofsFormat.S_IFMT) == ErofsFormat.S_IFREG;
  }

  public boolean isSymlink() {
    return (mode & ErofsFormat.S_IFMT) == ErofsFormat.S_IFLNK;
  }

  public boolean isDevice() {
    int type = mode & ErofsFormat.S_IFMT;
    return type == ErofsFormat.S_IFCHR || type == ErofsFormat.S_IFBLK;
  }
}
