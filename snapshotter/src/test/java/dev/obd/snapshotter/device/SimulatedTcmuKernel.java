package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import jnr.constants.platform.Errno;

/**
 * A SIMULATION of the kernel's configfs (target_core_user + tcm_loop) and sysfs, for the TCMU
 * attacher on machines whose kernel has neither (CI's). It reacts to writes as the kernel and a
 * TCMU backstore do, including their failures, and records every operation so tests can check the
 * sequence. The real kernel path is tested in the VM tier.
 *
 * <p>What it models: creating {@code core/user_<hba>/dev_<n>} creates its {@code control}, {@code
 * enable} and {@code attrib/cmd_time_out} attributes; {@code enable=1} asks the handler named in
 * {@code dev_config} to open the image (the simulated backstore writes "success" or
 * "failed:&lt;reason&gt;" to the config's result file, as overlaybd-tcmu does) and can answer
 * EAGAIN; the kernel reports the handler's failure to open the image as ENOENT on {@code enable},
 * as target_core_user does for overlaybd-tcmu; creating a loopback {@code tpgt_1} creates {@code
 * nexus} and {@code address}; linking a LUN to the device adds the SCSI device (its {@code timeout}
 * attribute) and makes its disk appear in sysfs after a delay (or never), without a {@code
 * /sys/block} entry (the kernel adds that only after the disk's directory; the simulation never
 * does); the disk opens only some time after it appeared (or never): until then open(2) answers
 * ENXIO, as sd's disks do while the kernel is still adding them; configfs refuses to remove a
 * device that a LUN still links to, or a directory that is not empty.
 */
final class SimulatedTcmuKernel implements KernelFiles {
  private final TreeSet<String> dirs = new TreeSet<>();
  private final Map<String, String> attributes = new TreeMap<>();
  private final Map<String, String> links = new TreeMap<>();
  private final Map<String, String> sysfsDisks = new HashMap<>(); // address -> sdX
  private final Map<String, Long> openableAt = new HashMap<>(); // /dev/sdX -> System.nanoTime()
  final List<String> operations = new ArrayList<>();

  String handlerRegistered = "overlaybd";
  int eagainAnswers = 0;
  boolean diskAppears = true;
  long diskDelayMillis = 30;

  /** How long a disk refuses opens with ENXIO after it appeared in sysfs; &lt; 0: for ever. */
  long openDelayMillis = 20;

  /** An errno every read of an opened disk fails with; 0 for reads that succeed. */
  int readErrno = 0;

  /** Opens answered ENXIO because the disk was not ready yet. */
  int refusedOpens = 0;

  private int nextHost = 3;
  private char nextDisk = 'b';

  SimulatedTcmuKernel() {
    dirs.add("/sys/kernel/config/target");
    dirs.add("/sys/kernel/config/target/core");
    dirs.add("/sys/kernel/config/target/loopback");
  }

  @Override
  public synchronized boolean exists(String path) {
    return dirs.contains(path) || attributes.containsKey(path) || links.containsKey(path);
  }

  @Override
  public synchronized void mkdirs(String path) throws IOException {
    operations.add("mkdir " + path);
    String p = path;
    List<String> created = new ArrayList<>();
    while (!dirs.contains(p)) {
      created.add(0, p);
      p = p.substring(0, p.lastIndexOf('/'));
    }
    for (String d : created) {
      dirs.add(d);
      if (d.matches(".*/core/user_[0-9]+/dev_[0-9]+")) {
        dirs.add(d + "/attrib");
        attributes.put(d + "/control", "");
        attributes.put(d + "/enable", "0");
        attributes.put(d + "/attrib/cmd_time_out", "30");
      } else if (d.matches(".*/loopback/naa\\.[0-9]+/tpgt_1")) {
        dirs.add(d + "/lun");
        attributes.put(d + "/nexus", "");
        attributes.put(d + "/address", "");
      }
    }
  }

  @Override
  public synchronized void write(String path, String value) throws IOException {
    operations.add("write " + path + " = " + value);
    if (!attributes.containsKey(path)) {
      throw new KernelCallException("write " + path + ": No such file or directory", 2);
    }
    if (path.endsWith("/control")) {
      String previous = attributes.get(path);
      attributes.put(path, previous.isEmpty() ? value : previous + "," + value);
    } else if (path.endsWith("/enable") && value.equals("1")) {
      enable(path.substring(0, path.lastIndexOf('/')));
    } else if (path.endsWith("/nexus")) {
      attributes.put(path, value);
      attributes.put(path.replace("/nexus", "/address"), nextHost++ + ":0:1");
    } else {
      attributes.put(path, value);
    }
  }

  private void enable(String devDir) throws IOException {
    if (eagainAnswers > 0) {
      eagainAnswers--;
      throw new KernelCallException(
          "write 1 to " + devDir + "/enable: Resource temporarily unavailable", 11);
    }
    String control = attributes.get(devDir + "/control");
    String config = "";
    for (String part : control.split(",")) {
      if (part.startsWith("dev_config=")) {
        config = part.substring("dev_config=".length());
      }
    }
    int slash = config.indexOf('/');
    String handler = slash < 0 ? "" : config.substring(0, slash);
    if (!handler.equals(handlerRegistered)) {
      throw new KernelCallException(
          "write 1 to " + devDir + "/enable: No such device (no TCMU handler " + handler + ")", 19);
    }
    Path configFile = Path.of(config.substring(slash));
    Path result = configFile.resolveSibling("init-debug.log");
    if (!Files.isRegularFile(configFile)) {
      Files.writeString(result, "failed:open config " + configFile + ": No such file");
      throw new KernelCallException(
          "write \"1\" to " + devDir + "/enable: No such file or directory", 2);
    }
    Files.writeString(result, "success");
    attributes.put(devDir + "/enable", "1");
  }

  @Override
  public synchronized String read(String path) throws IOException {
    if (path.startsWith("/sys") || attributes.containsKey(path)) {
      return attributes.getOrDefault(path, "");
    }
    Path p = Path.of(path);
    return Files.exists(p) ? Files.readString(p).strip() : "";
  }

  @Override
  public synchronized void symlink(String link, String target) throws IOException {
    operations.add("symlink " + link + " -> " + target);
    links.put(link, target);
    String tpgt = link.substring(0, link.indexOf("/lun/"));
    String address = attributes.get(tpgt + "/address");
    attributes.put("/sys/class/scsi_device/" + address + ":0/device/timeout", "30");
    if (diskAppears) {
      String disk = "sd" + nextDisk++;
      Thread t =
          new Thread(
              () -> {
                try {
                  Thread.sleep(diskDelayMillis);
                } catch (InterruptedException e) {
                  return;
                }
                synchronized (this) {
                  sysfsDisks.put(address, disk);
                  openableAt.put(
                      "/dev/" + disk,
                      openDelayMillis < 0
                          ? Long.MAX_VALUE
                          : System.nanoTime() + openDelayMillis * 1_000_000);
                }
              });
      t.setDaemon(true);
      t.start();
    }
  }

  @Override
  public synchronized void remove(String path) throws IOException {
    operations.add("remove " + path);
    if (links.remove(path) != null) {
      String tpgt = path.substring(0, path.indexOf("/lun/"));
      String address = attributes.get(tpgt + "/address");
      String disk = sysfsDisks.remove(address);
      openableAt.remove("/dev/" + disk);
      attributes.remove("/sys/class/scsi_device/" + address + ":0/device/timeout");
      return;
    }
    if (!dirs.contains(path)) {
      return;
    }
    if (links.containsValue(path)) {
      throw new KernelCallException("rmdir " + path + ": Device or resource busy", 16);
    }
    boolean children =
        dirs.stream().anyMatch(d -> d.startsWith(path + "/") && !isAutomatic(path, d))
            || links.keySet().stream().anyMatch(l -> l.startsWith(path + "/"));
    if (children) {
      throw new KernelCallException("rmdir " + path + ": Directory not empty", 39);
    }
    dirs.removeIf(d -> d.equals(path) || d.startsWith(path + "/"));
    attributes.keySet().removeIf(a -> a.startsWith(path + "/"));
  }

  /** Directories the kernel creates itself inside an object (they go with it). */
  private static boolean isAutomatic(String parent, String dir) {
    return dir.equals(parent + "/attrib") || dir.equals(parent + "/lun");
  }

  @Override
  public synchronized List<String> list(String dir) throws IOException {
    if (dir.startsWith("/sys/class/scsi_device/")) {
      String address =
          dir.substring("/sys/class/scsi_device/".length(), dir.indexOf(":0/device/block"));
      String disk = sysfsDisks.get(address);
      return disk == null ? List.of() : List.of(disk);
    }
    List<String> names = new ArrayList<>();
    for (String d : dirs) {
      if (d.startsWith(dir + "/") && d.indexOf('/', dir.length() + 1) < 0) {
        names.add(d.substring(dir.length() + 1));
      }
    }
    return names;
  }

  @Override
  public synchronized int readStart(String device, int length) throws IOException {
    Long at = openableAt.get(device);
    if (at == null) {
      throw new KernelCallException("open " + device + ": No such file or directory", 2);
    }
    if (at == Long.MAX_VALUE || System.nanoTime() - at < 0) {
      refusedOpens++;
      throw new KernelCallException("open " + device + ": No such device or address", 6);
    }
    if (readErrno != 0) {
      throw new KernelCallException(
          "read " + device + ": " + Errno.valueOf(readErrno).description(), readErrno);
    }
    return length;
  }

  /** Everything the simulated kernel holds below configfs's target directory. */
  synchronized List<String> configfsObjects() {
    List<String> all = new ArrayList<>();
    for (String d : dirs) {
      if (d.startsWith("/sys/kernel/config/target/")
          && !d.endsWith("/core")
          && !d.endsWith("/loopback")) {
        all.add(d);
      }
    }
    all.addAll(links.keySet());
    return all;
  }
}
