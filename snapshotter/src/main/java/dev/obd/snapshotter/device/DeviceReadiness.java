package dev.obd.snapshotter.device;

import dev.obd.snapshotter.device.KernelFiles.KernelCallException;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import java.util.logging.Logger;
import jnr.constants.platform.Errno;

/**
 * Waits until a freshly attached block device opens and reads, which can be later than the moment
 * its name is known. Both attachers hand out a device only after this check, so that what comes
 * next (mkfs, the filesystem probe, mount) never meets the gap.
 *
 * <p>The gap is real: right after sd's disk appears under {@code
 * /sys/class/scsi_device/<address>/device/block}, open(2) answers ENXIO until the kernel has
 * finished adding the disk (measured under overlaybd-tcmu: refused in 9 of 12 attaches, 2 to 17
 * times in a row, the first good open and read 17 to 40 ms later); where udev rather than devtmpfs
 * creates device nodes, the node can be missing for a moment (ENOENT); and a device whose size is
 * not set yet reads nothing. Those are retried until the deadline. Any other error (EIO, EACCES,
 * ...) fails at once: it says the device is broken, not late (the VM tier's tight attach loop never
 * saw EIO from a disk that then became readable).
 *
 * <p>Stateless and thread-safe.
 */
final class DeviceReadiness {
  private static final Logger LOG = Logger.getLogger(DeviceReadiness.class.getName());

  /** One page: what the filesystem probe and mount read first. */
  static final int PROBE_BYTES = 4096;

  private static final long POLL_MILLIS = 5;

  private DeviceReadiness() {}

  /**
   * Returns once {@code device} opens and its first page reads; tries at least once, even when
   * {@code endNanos} (a {@link System#nanoTime} value) has passed. Refusals it waited out are
   * logged at FINE, by kind (errno name, or "empty" for a read of 0 bytes).
   *
   * @throws AttachException naming the device, how long it was waited for and the last refusal,
   *     when it is still refused at the deadline or fails with an error that is not transient
   */
  static void await(KernelFiles kernel, String device, long endNanos)
      throws AttachException, InterruptedException {
    long start = System.nanoTime();
    Map<String, Integer> refusals = new TreeMap<>();
    while (true) {
      String refusal;
      try {
        if (kernel.readStart(device, PROBE_BYTES) > 0) {
          if (!refusals.isEmpty()) {
            long waited = millisSince(start);
            LOG.fine(
                () ->
                    device
                        + " opened and read after "
                        + waited
                        + " ms; refused before: "
                        + refusals);
          }
          return;
        }
        refusals.merge("empty", 1, Integer::sum);
        refusal = "read " + device + " returned no data (its size is 0)";
      } catch (KernelCallException e) {
        if (!transientErrno(e.errno())) {
          throw new AttachException(
              device
                  + " cannot be read"
                  + (refusals.isEmpty() ? "" : " (after waiting " + millisSince(start) + " ms)")
                  + ": "
                  + e.getMessage(),
              e);
        }
        refusals.merge(name(e.errno()), 1, Integer::sum);
        refusal = e.getMessage();
      } catch (IOException e) {
        throw new AttachException(device + " cannot be read: " + e.getMessage(), e);
      }
      if (System.nanoTime() - endNanos > 0) {
        throw new AttachException(
            device
                + " did not open and read within "
                + millisSince(start)
                + " ms ("
                + count(refusals)
                + " attempts; last: "
                + refusal
                + ")");
      }
      Thread.sleep(POLL_MILLIS);
    }
  }

  /** ENXIO: the disk is not added yet; ENOENT: its node is not made yet. */
  private static boolean transientErrno(int errno) {
    return errno == KernelCallException.ENXIO || errno == KernelCallException.ENOENT;
  }

  private static String name(int errno) {
    Errno e = Errno.valueOf(errno);
    return e == null ? "errno " + errno : e.name();
  }

  private static int count(Map<String, Integer> refusals) {
    return refusals.values().stream().mapToInt(Integer::intValue).sum();
  }

  private static long millisSince(long start) {
    return (System.nanoTime() - start) / 1_000_000;
  }
}
