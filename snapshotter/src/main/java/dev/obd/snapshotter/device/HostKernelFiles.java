package dev.obd.snapshotter.device;

import dev.obd.snapshotter.fs.LibC;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link KernelFiles} on this host's configfs, sysfs and block devices. Attribute writes and device
 * reads go through open(2), read(2) and write(2) directly ({@link LibC}) so that the kernel's
 * errno, such as EAGAIN from {@code enable} or ENXIO from opening a disk not ready yet, reaches the
 * caller intact.
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
    LibC.Calls libc = LibC.calls();
    int fd = libc.open(path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      int errno = LibC.lastError();
      throw new KernelCallException("open " + path + ": " + LibC.describe(errno), errno);
    }
    try {
      byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
      long n = libc.write(fd, bytes, bytes.length);
      if (n < 0) {
        int errno = LibC.lastError();
        throw new KernelCallException(
            "write \"" + value + "\" to " + path + ": " + LibC.describe(errno), errno);
      }
    } finally {
      libc.close(fd);
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
    LibC.Calls libc = LibC.calls();
    int fd = libc.open(device, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
      int errno = LibC.lastError();
      throw new KernelCallException("open " + device + ": " + LibC.describe(errno), errno);
    }
    try {
      long n = libc.read(fd, new byte[length], length);
      if (n < 0) {
        int errno = LibC.lastError();
        throw new KernelCallException("read " + device + ": " + LibC.describe(errno), errno);
      }
      return (int) n;
    } finally {
      libc.close(fd);
    }
  }
}
