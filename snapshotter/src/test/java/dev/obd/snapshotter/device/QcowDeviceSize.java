package dev.obd.snapshotter.device;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The guest's kernel files, plus what tcmu-runner's qcow handler needs and overlaybd-tcmu does not:
 * the TCMU device's {@code dev_size}, equal to the image's virtual size (the handler refuses to
 * open the image otherwise: "size misconfigured, TCMU says 0"). It is written right after the
 * attacher's {@code dev_config}, before {@code enable}, through the same real configfs. For a
 * config that is not a readable qcow2 file nothing is added, and the handler fails to open it.
 */
final class QcowDeviceSize extends ForwardingKernelFiles {
  private static final String QCOW_CONFIG = "dev_config=qcow/";
  private static final int QCOW_MAGIC = 0x514649fb; // "QFI\xfb"

  QcowDeviceSize(KernelFiles kernel) {
    super(kernel);
  }

  @Override
  public void write(String path, String value) throws IOException {
    kernel.write(path, value);
    if (path.endsWith("/control") && value.startsWith(QCOW_CONFIG)) {
      Path image = Path.of(value.substring(QCOW_CONFIG.length()));
      if (Files.isRegularFile(image) && isQcow(image)) {
        kernel.write(path, "dev_size=" + virtualSize(image));
      }
    }
  }

  private static boolean isQcow(Path image) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
      return f.length() >= 32 && f.readInt() == QCOW_MAGIC;
    }
  }

  /** The virtual size from a qcow2 header (big-endian: magic at 0, size at 24). */
  private static long virtualSize(Path image) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
      f.seek(24);
      return f.readLong();
    }
  }
}
