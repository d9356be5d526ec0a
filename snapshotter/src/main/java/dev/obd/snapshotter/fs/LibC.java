package dev.obd.snapshotter.fs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The C library calls the JDK does not offer: {@code lstat} for {@code st_blocks}, open/read/write
 * with the kernel's errno intact (configfs, block devices), mount and umount2. One jnr-ffi binding
 * of just these calls, made on first use: jnr-posix, used before, bound some 200 functions and cost
 * 250-350 ms of a start's CPU, and a start whose calls need none of these pays nothing now.
 * Thread-safe.
 */
public final class LibC {
  /** {@code errno} of ENOENT and ENOTDIR, which {@link #lstat} answers with {@code null}. */
  private static final int ENOENT = 2;

  private static final int ENOTDIR = 20;

  /** The bound functions; errno is saved after each call marked so. */
  public interface Calls {
    @SaveError
    int open(String path, int flags, int mode);

    @SaveError
    @ssize_t
    long read(int fd, @Out byte[] buf, @size_t long count);

    @SaveError
    @ssize_t
    long write(int fd, @In byte[] buf, @size_t long count);

    int close(int fd);

    @SaveError
    int mount(String source, String target, String fstype, long flags, String data);

    @SaveError
    int umount2(String target, int flags);

    @SaveError
    int lstat(String path, @Out byte[] statBuf);

    /** glibc before 2.33 has no {@code lstat} symbol, only this. */
    @SaveError
    int __lxstat(int version, String path, @Out byte[] statBuf);
  }

  /** What {@link DiskUsage} needs of {@code struct stat}. */
  public record Stat(long dev, long ino, int mode, long blocks) {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;

    public boolean isDirectory() {
      return (mode & S_IFMT) == S_IFDIR;
    }
  }

  private LibC() {}

  /** The binding, loaded on first use. */
  public static Calls calls() {
    return Holder.CALLS;
  }

  /** errno of the last call on this thread that saves it. */
  public static int lastError() {
    return Runtime.getRuntime(Holder.CALLS).getLastError();
  }

  /** strerror-like text for {@code errno}. */
  public static String describe(int errno) {
    Errno e = Errno.valueOf(errno);
    return e == null ? "errno " + errno : e.description();
  }

  /**
   * lstat(2) of {@code path}; {@code null} when it does not exist (any more).
   *
   * @throws IOException any other failure, with the kernel's reason
   */
  public static Stat lstat(String path) throws IOException {
    StatLayout layout = Layout.LAYOUT;
    byte[] buf = new byte[StatLayout.BUFFER];
    int rc;
    if (Holder.hasLstat) {
      try {
        rc = Holder.CALLS.lstat(path, buf);
      } catch (UnsatisfiedLinkError oldGlibc) {
        Holder.hasLstat = false;
        rc = Holder.CALLS.__lxstat(layout.statVersion, path, buf);
      }
    } else {
      rc = Holder.CALLS.__lxstat(layout.statVersion, path, buf);
    }
    if (rc != 0) {
      int errno = lastError();
      if (errno == ENOENT || errno == ENOTDIR) {
        return null;
      }
      throw new IOException("lstat " + path + ": " + describe(errno));
    }
    ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.nativeOrder());
    return new Stat(b.getLong(0), b.getLong(8), b.getInt(layout.modeOffset), b.getLong(64));
  }

  /**
   * Where {@code struct stat} keeps {@code st_mode} on this architecture ({@code st_dev}, {@code
   * st_ino} and {@code st_blocks} sit at 0, 8 and 64 on both), and glibc's {@code _STAT_VER}.
   */
  private record StatLayout(int modeOffset, int statVersion) {
    /** Larger than {@code struct stat} on every supported architecture (144 and 128 bytes). */
    static final int BUFFER = 256;

    static StatLayout forArch(String arch) {
      return switch (arch) {
        case "amd64", "x86_64" -> new StatLayout(24, 1);
        case "aarch64", "arm64" -> new StatLayout(16, 0);
        default ->
            throw new UnsupportedOperationException(
                "lstat: struct stat layout of " + arch + " is not known (x86_64 and aarch64 are)");
      };
    }
  }

  private static final class Holder {
    static final Calls CALLS = LibraryLoader.create(Calls.class).load("c");
    static volatile boolean hasLstat = true;
  }

  /** Apart from {@link Holder}: an unknown layout fails lstat alone, not mount. */
  private static final class Layout {
    static final StatLayout LAYOUT = StatLayout.forArch(System.getProperty("os.arch"));
  }
}
