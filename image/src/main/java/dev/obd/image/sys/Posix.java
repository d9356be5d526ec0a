package dev.obd.image.sys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;

/**
 * Checked wrappers of {@link LibC}: each failure becomes an {@link IOException} naming the call,
 * the path and the errno text. Thread-safe (the calls are).
 */
public final class Posix {
  private static final int O_RDONLY = 0;
  private static final int O_WRONLY = 1;
  private static final int O_CLOEXEC = 02000000;
  private static final int AT_FDCWD = -100;
  private static final int AT_SYMLINK_NOFOLLOW = 0x100;
  private static final int SEEK_DATA = 3;
  private static final int SEEK_HOLE = 4;
  private static final int FALLOC_FL_KEEP_SIZE = 0x01;
  private static final int FALLOC_FL_PUNCH_HOLE = 0x02;
  private static final int ENXIO = 6;
  private static final int ENODATA = 61;
  private static final int ERANGE = 34;

  /** File type bits of {@code st_mode}. */
  public static final int S_IFIFO = 0010000;

  public static final int S_IFCHR = 0020000;
  public static final int S_IFBLK = 0060000;

  private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");

  private Posix() {}

  /** A range of bytes {@code [start, end)}. */
  public record Extent(long start, long end) {}

  /**
   * The data extents of a (sparse) file as {@code SEEK_DATA}/{@code SEEK_HOLE} report them; a file
   * system without hole support reports the whole file as data.
   */
  public static List<Extent> dataExtents(Path file, long size) throws IOException {
    int fd = LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      throw failure("open", file);
    }
    try {
      List<Extent> out = new ArrayList<>();
      long pos = 0;
      while (pos < size) {
        long data = LIBC.lseek(fd, pos, SEEK_DATA);
        if (data < 0) {
          if (errno() == ENXIO) {
            break;
          }
          throw failure("lseek(SEEK_DATA)", file);
        }
        long hole = LIBC.lseek(fd, data, SEEK_HOLE);
        if (hole < 0) {
          throw failure("lseek(SEEK_HOLE)", file);
        }
        hole = Math.min(hole, size);
        if (hole > data) {
          out.add(new Extent(data, hole));
        }
        pos = hole;
      }
      return out;
    } finally {
      LIBC.close(fd);
    }
  }

  /**
   * Deallocates {@code [offset, offset+length)} of {@code file} without changing its size ({@code
   * fallocate(PUNCH_HOLE|KEEP_SIZE)}): the range reads as zeros, and whole file-system blocks in it
   * become a hole that {@link #dataExtents} no longer reports; the partial blocks at its ends are
   * zeroed but stay allocated.
   */
  public static void punchHole(Path file, long offset, long length) throws IOException {
    punchHoles(file, List.of(new Extent(offset, offset + length)));
  }

  /** {@link #punchHole} of each range, opening the file once. */
  public static void punchHoles(Path file, List<Extent> ranges) throws IOException {
    if (ranges.isEmpty()) {
      return;
    }
    int fd = LIBC.open(file.toString(), O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      throw failure("open", file);
    }
    try {
      for (Extent r : ranges) {
        if (r.end() > r.start()
            && LIBC.fallocate(
                    fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, r.start(), r.end() - r.start())
                != 0) {
          throw failure(
              "fallocate(PUNCH_HOLE) of "
                  + (r.end() - r.start())
                  + " bytes at "
                  + r.start()
                  + " of",
              file);
        }
      }
    } finally {
      LIBC.close(fd);
    }
  }

  private static void fallocate(Path file, int mode, long offset, long length, String what)
      throws IOException {
    if (length == 0) {
      return;
    }
    int fd = LIBC.open(file.toString(), O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      throw failure("open", file);
    }
    try {
      if (LIBC.fallocate(fd, mode, offset, length) != 0) {
        throw failure(what, file);
      }
    } finally {
      LIBC.close(fd);
    }
  }

  /**
   * Allocates the first {@code length} bytes of {@code file} ({@code fallocate}, mode 0): the
   * blocks are chosen now, by the calling thread, and the file is at least that long.
   */
  public static void allocate(Path file, long length) throws IOException {
    fallocate(file, 0, 0, length, "fallocate of " + length + " bytes of");
  }

  /** Sets an extended attribute of {@code path} itself (not a symlink's target). */
  public static void setXattr(Path path, String name, byte[] value) throws IOException {
    if (LIBC.lsetxattr(path.toString(), name, value, value.length, 0) != 0) {
      throw failure("lsetxattr " + name, path);
    }
  }

  /** All extended attributes of {@code path} itself, in the order the file system lists them. */
  public static Map<String, byte[]> xattrs(Path path) throws IOException {
    Map<String, byte[]> out = new LinkedHashMap<>();
    byte[] list = new byte[64 * 1024];
    long n = LIBC.llistxattr(path.toString(), list, list.length);
    if (n < 0) {
      throw failure("llistxattr", path);
    }
    int start = 0;
    for (int i = 0; i < n; i++) {
      if (list[i] == 0) {
        String name = new String(list, start, i - start, StandardCharsets.UTF_8);
        start = i + 1;
        byte[] value = new byte[64 * 1024];
        long len = LIBC.lgetxattr(path.toString(), name, value, value.length);
        if (len < 0) {
          int e = errno();
          if (e == ENODATA) {
            continue;
          }
          if (e == ERANGE) {
            throw new IOException("lgetxattr " + name + " of " + path + ": value over 64 KiB");
          }
          throw failure("lgetxattr " + name, path);
        }
        out.put(name, java.util.Arrays.copyOf(value, (int) len));
      }
    }
    return out;
  }

  /** Creates a device node or FIFO; {@code mode} includes the file type bits. */
  public static void mknod(Path path, int mode, int major, int minor) throws IOException {
    if (LIBC.mknod(path.toString(), mode, makedev(major, minor)) != 0) {
      throw failure("mknod", path);
    }
  }

  /** Changes the owner of {@code path} itself (not a symlink's target). */
  public static void lchown(Path path, int uid, int gid) throws IOException {
    if (LIBC.lchown(path.toString(), uid, gid) != 0) {
      throw failure("lchown", path);
    }
  }

  /** Sets all twelve permission bits, set-id and sticky bits included. */
  public static void chmod(Path path, int mode) throws IOException {
    if (LIBC.chmod(path.toString(), mode & 07777) != 0) {
      throw failure("chmod", path);
    }
  }

  /**
   * Sets access and modification times of {@code path} itself without opening it (a FIFO would
   * block an open) and without following a final symlink.
   */
  public static void setTimes(Path path, java.nio.file.attribute.FileTime time) throws IOException {
    long nanos = time.to(java.util.concurrent.TimeUnit.NANOSECONDS);
    long sec = Math.floorDiv(nanos, 1_000_000_000L);
    long nsec = Math.floorMod(nanos, 1_000_000_000L);
    long[] times = {sec, nsec, sec, nsec};
    if (LIBC.utimensat(AT_FDCWD, path.toString(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      throw failure("utimensat", path);
    }
  }

  /** Where {@link #pinToOneCpu} found the calling thread allowed to run, to put it back. */
  public static final class CpuPin implements AutoCloseable {
    private final byte[] before;

    private CpuPin(byte[] before) {
      this.before = before;
    }

    /** Lets the thread run where it could before. */
    @Override
    public void close() throws IOException {
      if (LIBC.sched_setaffinity(0, before.length, before) != 0) {
        throw failure("sched_setaffinity", Path.of("(this thread)"));
      }
    }
  }

  /**
   * Keeps the calling thread on one of the CPUs it may run on (the lowest) until the pin is closed.
   */
  public static CpuPin pinToOneCpu() throws IOException {
    byte[] mask = new byte[1024 / 8]; // glibc's cpu_set_t: 1,024 CPUs
    if (LIBC.sched_getaffinity(0, mask.length, mask) != 0) {
      throw failure("sched_getaffinity", Path.of("(this thread)"));
    }
    byte[] one = new byte[mask.length];
    for (int cpu = 0; cpu < mask.length * 8; cpu++) {
      if ((mask[cpu / 8] & (1 << (cpu % 8))) != 0) {
        one[cpu / 8] = (byte) (1 << (cpu % 8));
        break;
      }
    }
    if (LIBC.sched_setaffinity(0, one.length, one) != 0) {
      throw failure("sched_setaffinity", Path.of("(this thread)"));
    }
    return new CpuPin(mask);
  }

  /** The effective user ID of this process. */
  public static int euid() {
    return LIBC.geteuid();
  }

  /** glibc's {@code makedev}. */
  static long makedev(long major, long minor) {
    return ((major & 0xfffL) << 8)
        | (minor & 0xffL)
        | ((minor & ~0xffL) << 12)
        | ((major & ~0xfffL) << 32);
  }

  private static int errno() {
    return Runtime.getRuntime(LIBC).getLastError();
  }

  private static IOException failure(String call, Path path) {
    int e = errno();
    return new IOException(call + " " + path + ": " + errnoText(e) + " (errno " + e + ")");
  }

  private static String errnoText(int e) {
    String text = LIBC.strerror(e);
    return text == null ? "error" : text;
  }
}
