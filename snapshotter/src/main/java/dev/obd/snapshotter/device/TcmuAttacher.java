package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Devices served by upstream's {@code overlaybd-tcmu} through the kernel's TCMU and tcm_loop,
 * created with exactly upstream's configfs sequence and names, so that overlaybd-tcmu serves them
 * unchanged:
 *
 * <ol>
 *   <li>{@code core/user_<HBA>/dev_<id>}: {@code control} gets {@code
 *       dev_config=overlaybd/<config>} and {@code max_data_area_mb=4}; {@code enable} gets {@code
 *       1}, retried while the kernel answers EAGAIN (overlaybd-tcmu opens the image meanwhile and
 *       writes its result file); {@code attrib/cmd_time_out} gets 2147483;
 *   <li>{@code loopback/naa.<prefix><id padded to 13>/tpgt_1}: {@code nexus} gets the WWN, {@code
 *       lun/lun_0/dev_<id>} links to the TCMU device;
 *   <li>the SCSI disk appears under {@code /sys/class/scsi_device/<tpgt address>:0/device/block};
 *       the SCSI device's {@code timeout} gets 2147483.
 * </ol>
 *
 * Unlike upstream, every wait has a deadline; a device that never appears is an error (not an empty
 * device name); the disk is handed out only once it opens and reads ({@link DeviceReadiness}: it
 * shows in sysfs before the kernel lets it be opened); an {@code enable} the handler refused
 * reports the handler's own reason from the result file first (the kernel's errno for it, ENOENT,
 * reads like a missing configfs path); and a failed attach removes every configfs object it
 * created, in reverse order. HBA and NAA prefix follow upstream's {@code tenant}: 999999999 and 199
 * by default.
 */
public final class TcmuAttacher implements DeviceAttacher {
  private static final Logger LOG = Logger.getLogger(TcmuAttacher.class.getName());
  private static final String TARGET = "/sys/kernel/config/target";
  private static final String TIMEOUT = "2147483";
  private static final int ENABLE_RETRIES = 100;
  private static final long ENABLE_RETRY_MILLIS = 50;
  private static final String RESULT_FILE = "init-debug.log";
  private static final String FAILED = "failed:";

  private final KernelFiles kernel;
  private final long hba;
  private final String naaPrefix;
  private final String handler;

  /**
   * @param tenant upstream's {@code tenant}; -1 for none
   * @param handler the TCMU handler subtype, {@code overlaybd} (tests of the kernel path may name
   *     another handler, such as tcmu-runner's)
   */
  public TcmuAttacher(KernelFiles kernel, int tenant, String handler) {
    this.kernel = kernel;
    this.hba = tenant == -1 ? 999_999_999L : tenant;
    this.naaPrefix = tenant == -1 ? "199" : Integer.toString(tenant % 100 + 100);
    this.handler = handler;
  }

  @Override
  public String name() {
    return "tcmu";
  }

  String userDir() {
    return TARGET + "/core/user_" + hba;
  }

  String deviceDir(long id) {
    return userDir() + "/dev_" + id;
  }

  String wwn(long id) {
    String digits = Long.toString(id);
    if (digits.length() > 13) {
      throw new IllegalArgumentException("snapshot id " + id + " does not fit a TCMU WWN");
    }
    return "naa." + naaPrefix + "0".repeat(13 - digits.length()) + digits;
  }

  String targetDir(long id) {
    return TARGET + "/loopback/" + wwn(id);
  }

  @Override
  public String attach(long id, Path config, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    Deque<String> created = new ArrayDeque<>();
    String dev = deviceDir(id);
    String tpgt = targetDir(id) + "/tpgt_1";
    String lun = tpgt + "/lun/lun_0";
    Path result = config.resolveSibling(RESULT_FILE);
    try {
      String existing = existingDevice(id);
      if (existing != null) {
        DeviceReadiness.await(kernel, existing, end);
        return existing;
      }
      if (!kernel.exists(TARGET)) {
        throw new AttachException(
            "configfs target " + TARGET + " is missing: is target_core_user loaded?");
      }
      clearResult(result);
      mkdir(userDir(), created);
      mkdir(dev, created);
      kernel.write(dev + "/control", "dev_config=" + handler + "/" + config.toAbsolutePath());
      kernel.write(dev + "/control", "max_data_area_mb=4");
      enable(dev);
      kernel.write(dev + "/attrib/cmd_time_out", TIMEOUT);
      mkdir(targetDir(id), created);
      mkdir(tpgt, created);
      mkdir(lun, created);
      kernel.write(tpgt + "/nexus", wwn(id));
      kernel.symlink(lun + "/dev_" + id, dev);
      created.push(lun + "/dev_" + id);
      String disk = awaitDisk(id, tpgt, end);
      DeviceReadiness.await(kernel, disk, end);
      return disk;
    } catch (IOException | AttachException | InterruptedException e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      undo(created);
      String prefix = "attach tcmu device for snapshot " + id + " (config " + config + "): ";
      String reason = handlerFailure(result);
      if (e instanceof EnableRefused && !reason.isEmpty()) {
        // The kernel turns any open failure of the handler into an errno on enable (ENOENT from
        // overlaybd-tcmu), which reads like a missing configfs path: the handler's own words say
        // what went wrong, so they come first.
        throw new AttachException(
            prefix + handlerName() + ": " + reason + " (" + e.getMessage() + ")", e);
      }
      throw new AttachException(
          prefix
              + (e instanceof InterruptedException ? "interrupted" : e.getMessage())
              + (reason.isEmpty() ? "" : "; " + handlerName() + " says: " + reason),
          e);
    }
  }

  private void mkdir(String dir, Deque<String> created) throws IOException {
    if (!kernel.exists(dir)) {
      kernel.mkdirs(dir);
      created.push(dir);
    }
  }

  /**
   * Writes enable=1, retrying while the kernel answers EAGAIN, as upstream's PR #332 does. The
   * write returns once the handler has opened the image, or failed to.
   */
  private void enable(String dev) throws IOException, InterruptedException {
    for (int attempt = 1; ; attempt++) {
      try {
        kernel.write(dev + "/enable", "1");
        return;
      } catch (KernelFiles.KernelCallException e) {
        if (e.errno() != KernelFiles.KernelCallException.EAGAIN || attempt >= ENABLE_RETRIES) {
          throw new EnableRefused("failed to enable target " + dev + ": " + e.getMessage(), e);
        }
        Thread.sleep(ENABLE_RETRY_MILLIS);
      }
    }
  }

  /** The kernel refused {@code enable}: the handler may have said why in the result file. */
  private static final class EnableRefused extends IOException {
    private static final long serialVersionUID = 1L;

    EnableRefused(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Finds the SCSI disk behind the loopback target, or fails at the deadline. */
  private String awaitDisk(long id, String tpgt, long end)
      throws IOException, AttachException, InterruptedException {
    while (true) {
      String address = kernel.read(tpgt + "/address");
      if (!address.isEmpty()) {
        String scsi = "/sys/class/scsi_device/" + address + ":0/device";
        List<String> disks = kernel.list(scsi + "/block");
        if (!disks.isEmpty()) {
          // Upstream writes /sys/block/sdX/device/timeout, the same attribute; but /sys/block/sdX
          // appears only after the disk's own directory, and writing there at once failed with
          // ENOENT in the VM tier's tight attach loop. The SCSI device is there before its disk.
          // It can also still be the previous target's at the same address, going away: then the
          // write fails with ENOENT too, and the new one appears a moment later.
          try {
            kernel.write(scsi + "/timeout", TIMEOUT);
            return "/dev/" + disks.get(0);
          } catch (KernelFiles.KernelCallException e) {
            if (e.errno() != KernelFiles.KernelCallException.ENOENT || System.nanoTime() > end) {
              throw e;
            }
          }
        }
      }
      if (System.nanoTime() > end) {
        throw new AttachException(
            "the SCSI disk of loopback target "
                + wwn(id)
                + " (address \""
                + address
                + "\") did not appear in time");
      }
      Thread.sleep(10);
    }
  }

  /** The disk of an already complete attachment, or null. */
  private String existingDevice(long id) throws IOException {
    String tpgt = targetDir(id) + "/tpgt_1";
    if (!kernel.exists(tpgt + "/lun/lun_0/dev_" + id)) {
      return null;
    }
    String address = kernel.read(tpgt + "/address");
    List<String> disks = kernel.list("/sys/class/scsi_device/" + address + ":0/device/block");
    return disks.isEmpty() ? null : "/dev/" + disks.get(0);
  }

  private void undo(Deque<String> created) {
    while (!created.isEmpty()) {
      String path = created.pop();
      try {
        kernel.remove(path);
      } catch (IOException e) {
        if (!path.equals(userDir())) { // the HBA may have gained another device meanwhile
          LOG.log(Level.WARNING, "could not remove " + path + " after a failed attach", e);
        }
      }
    }
  }

  /**
   * Empties the result file of an earlier attach, so that what it holds after this one's {@code
   * enable} is the handler's answer to this attach (overlaybd-tcmu writes it on every open). A
   * missing file stays missing: the handler creates it.
   */
  private static void clearResult(Path result) throws IOException {
    try {
      Files.newByteChannel(result, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)
          .close();
    } catch (NoSuchFileException e) {
      // nothing to clear
    }
  }

  /**
   * The handler's reason from the result file ({@code failed:<reason>}, as overlaybd-tcmu writes
   * it), without the prefix; "" when it reports success or nothing.
   */
  private String handlerFailure(Path result) {
    String text;
    try {
      text = kernel.read(result.toString());
    } catch (IOException e) {
      return "";
    }
    if (text.isEmpty() || text.equals("success")) {
      return "";
    }
    return text.startsWith(FAILED) ? text.substring(FAILED.length()).strip() : text;
  }

  private String handlerName() {
    return handler.equals("overlaybd") ? "overlaybd-tcmu" : "TCMU handler " + handler;
  }

  @Override
  public void detach(long id, Path config, Duration deadline) throws AttachException {
    String lun = targetDir(id) + "/tpgt_1/lun/lun_0";
    try {
      for (String path :
          List.of(
              lun + "/dev_" + id, lun, targetDir(id) + "/tpgt_1", targetDir(id), deviceDir(id))) {
        kernel.remove(path);
      }
    } catch (IOException e) {
      throw new AttachException("detach tcmu device of snapshot " + id + ": " + e.getMessage(), e);
    }
  }

  @Override
  public Map<Long, AttachedDevice> attached(Duration deadline) throws AttachException {
    Map<Long, AttachedDevice> out = new HashMap<>();
    try {
      for (String name : kernel.list(userDir())) {
        if (name.matches("dev_[0-9]+")) {
          long id = Long.parseLong(name.substring(4));
          String disk = existingDevice(id);
          out.put(
              id,
              disk == null
                  ? AttachedDevice.broken("", "its TCMU device has no SCSI disk (incomplete)")
                  : AttachedDevice.healthy(disk));
        }
      }
    } catch (IOException e) {
      throw new AttachException("list tcmu devices in " + userDir() + ": " + e.getMessage(), e);
    }
    return out;
  }
}
