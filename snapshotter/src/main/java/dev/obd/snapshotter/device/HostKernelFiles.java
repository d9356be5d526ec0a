package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jnr.constants.platform.Errno;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import jnr.posix.util.DefaultPOSIXHandler;

/**
 * {@link KernelFiles} on this host's configfs, sysfs and block devices. Attribute writes and device
 * reads go through open(2), read(2) and write(2) directly (jnr-posix) so that the kernel's errno,
 * such as EAGAIN from {@code enable} or ENXIO from opening a disk not ready yet, reaches the caller
 * intact.
 */
public final class HostKernelFiles implements KernelFiles {
  private static final int O_RDONLY = 0;
  private static final int O_WRONLY = 1;
  private static final int O_CLOEXEC = 02000000;

  @Override
  public boolean exists(String path) {
    return Files.exists(Path.of(path), LinkOption.NOFOLLOW_LINKS);
  }

  @Override
  public void mkdirs(String path) throws IOException {
    Files.createDirectories(Path.of(path));
  }

  @Override
  public void write(String path, String value) throws IOException {
    int fd = Native.POSIX.open(path, O_WRONLY, 0);
    if (fd < 0) {
      int errno = Native.POSIX.errno();
      throw new KernelCallException("open " + path + ": " + describe(errno), errno);
    }
    try {
      byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
      int n = Native.POSIX.write(fd, bytes, bytes.length);
      if (n < 0) {
        int errno = Native.POSIX.errno();
        throw new KernelCallException(
            "write \"" + value + "\" to " + path + ": " + describe(errno), errno);
      }
    } finally {
      Native.POSIX.close(fd);
    }
  }

  @Override
  public String read(String path) throws IOException {
    try {
      return Files.readString(Path.of(path), StandardCharsets.UTF_8).strip();
    } catch (NoSuchFileException e) {
      return "";
    }
  }

  @Override
  public void symlink(String link, String target) throws IOException {
    Files.createSymbolicLink(Path.of(link), Path.of(target));
  }

  @Override
  public void remove(String path) throws IOException {
    Files.deleteIfExists(Path.of(path));
  }

  @Override
  public List<String> list(String dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> s = Files.newDirectoryStream(Path.of(dir))) {
      s.forEach(p -> names.add(p.getFileName().toString()));
    } catch (NoSuchFileException e) {
      return List.of();
    }
    return names;
  }

  @Override
  public int readStart(String device, int length) throws IOException {
    int fd = Native.POSIX.open(device, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      int errno = Native.POSIX.errno();
      throw new KernelCallException("open " + device + ": " + describe(errno), errno);
    }
    try {
      int n = Native.POSIX.read(fd, new byte[length], length);
      if (n < 0) {
        int errno = Native.POSIX.errno();
        throw new KernelCallException("read " + device + ": " + describe(errno), errno);
      }
      return n;
    } finally {
      Native.POSIX.close(fd);
    }
  }

  private static String describe(int errno) {
    Errno e = Errno.valueOf(errno);
    return e == null ? "errno " + errno : e.description();
  }

  /**
   * jnr-posix, brought up on the first call: it binds some 200 functions with generated code
   * (250-350 ms of CPU), which a daemon start that attaches nothing should not pay.
   */
  private static final class Native {
    static final POSIX POSIX = POSIXFactory.getNativePOSIX(new DefaultPOSIXHandler());
  }
}
