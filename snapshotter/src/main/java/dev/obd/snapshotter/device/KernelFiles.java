package dev.obd.snapshotter.device;

import java.io.IOException;
import java.util.List;

/**
 * The kernel interfaces the TCMU attacher drives: configfs ({@code /sys/kernel/config}), sysfs
 * ({@code /sys/class/scsi_device}, {@code /sys/block}) and files written by the backstore. Paths
 * are absolute. The real implementation is {@link HostKernelFiles}; tests substitute a simulated
 * kernel, because configfs and TCMU cannot run on every test machine.
 */
public interface KernelFiles {

  /** A write the kernel refused, with its errno (e.g. EAGAIN = 11). */
  final class KernelWriteException extends IOException {
    private static final long serialVersionUID = 1L;
    public static final int EAGAIN = 11;

    private final int errno;

    public KernelWriteException(String message, int errno) {
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
}
