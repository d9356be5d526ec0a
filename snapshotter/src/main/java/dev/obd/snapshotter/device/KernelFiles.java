package dev.obd.snapshotter.device;

import java.io.IOException;
import java.util.List;

/**
 * The kernel interfaces the attachers drive: configfs ({@code /sys/kernel/config}), sysfs ({@code
 * /sys/class/scsi_device}, {@code /sys/block}), block devices in {@code /dev}, and files written by
 * the backstore. Paths are absolute. The real implementation is {@link HostKernelFiles}; tests
 * substitute a simulated kernel, because configfs, TCMU and kernel NBD cannot run on every test
 * machine.
 */
public interface KernelFiles {

  /** A call the kernel refused, with its errno (e.g. EAGAIN = 11). */
  final class KernelCallException extends IOException {
    private static final long serialVersionUID = 1L;
    public static final int ENOENT = 2;
    public static final int ENXIO = 6;
    public static final int EAGAIN = 11;

    private final int errno;

    public KernelCallException(String message, int errno) {
      super(message);
      this.errno = errno;
    }

    public int errno() {
      return errno;
    }
  }

  boolean exists(String path);

  /** mkdir -p; on configfs, creating a directory creates the kernel object. */
  void mkdirs(String path) throws IOException;

  /** One write(2) of {@code value}: configfs attributes act on each write. */
  void write(String path, String value) throws IOException;

  /** The whole file, trailing newline removed; "" if it does not exist. */
  String read(String path) throws IOException;

  void symlink(String link, String target) throws IOException;

  /** rmdir or unlink; a missing path is not an error. */
  void remove(String path) throws IOException;

  /** The names in a directory; empty if it does not exist. */
  List<String> list(String dir) throws IOException;

  /**
   * Opens block device {@code device} read-only, reads up to {@code length} bytes from its start
   * with one read(2), and closes it; returns how many bytes the read returned (0 for a device of
   * size 0).
   *
   * @throws KernelCallException when the kernel refuses the open or the read, with its errno
   */
  int readStart(String device, int length) throws IOException;
}
