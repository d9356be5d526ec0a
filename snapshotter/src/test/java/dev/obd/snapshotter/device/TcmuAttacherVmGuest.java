package dev.obd.snapshotter.device;

import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The guest half of {@link TcmuAttacherVmTest}: a main run by the VM's JVM, as root, on the guest
 * kernel's configfs, while tcmu-runner serves the "qcow" handler. It drives {@link TcmuAttacher}
 * through a failing attach, an attach, a mount, a repeated attach, {@code attached()} and a detach,
 * and writes what it saw to {@code result.txt} in the out share (lines {@code <seconds> <key>
 * <value>}). It asserts nothing itself, so that one surprise does not hide the rest: the host side
 * asserts.
 *
 * <p>Arguments: the qcow2 image (writable: tcmu-runner opens it read-write), a path that does not
 * exist, the out share.
 */
final class TcmuAttacherVmGuest {
  static final long ID = 4242;
  static final long FAILING_ID = 77;
  private static final Path TARGET = Path.of("/sys/kernel/config/target");
  private static final Duration ATTACH_DEADLINE = Duration.ofSeconds(120);

  private TcmuAttacherVmGuest() {}

  public static void main(String[] args) throws Exception {
    Path image = Path.of(args[0]);
    Path missing = Path.of(args[1]);
    Path out = Path.of(args[2]);
    Report report = new Report(out.resolve("result.txt"));
    try {
      run(image, missing, out, report);
    } catch (Exception | AssertionError e) {
      report.put("error", e.toString());
      throw e;
    }
  }

  private static void run(Path image, Path missing, Path out, Report report) throws Exception {
    TcmuAttacher attacher = new TcmuAttacher(new QcowDeviceSize(new HostKernelFiles()), -1, "qcow");
    report.put("objects-before", objects());

    // First, while the HBA does not exist: the failing attach creates it, so it must remove it too.
    long t0 = System.nanoTime();
    try {
      report.put(
          "failure", "none: attached " + attacher.attach(FAILING_ID, missing, ATTACH_DEADLINE));
    } catch (AttachException e) {
      report.put("failure", e.getMessage());
    }
    report.put("failure-millis", millisSince(t0));
    report.put("objects-after-failure", objects());

    t0 = System.nanoTime();
    String device = attacher.attach(ID, image, ATTACH_DEADLINE);
    report.put("attach-millis", millisSince(t0));
    report.put("device", device);
    report.put("objects-attached", objects());
    Path dev = Path.of(attacher.deviceDir(ID));
    Path lun = Path.of(attacher.targetDir(ID), "tpgt_1/lun/lun_0/dev_" + ID);
    report.put("lun-link", Files.readSymbolicLink(lun).toString());
    report.put("dev-config", read(dev.resolve("attrib/dev_config")));
    report.put("cmd-time-out", read(dev.resolve("attrib/cmd_time_out")));
    Path sysfs = Path.of("/sys/block", Path.of(device).getFileName().toString());
    report.put("scsi-type", read(sysfs.resolve("device/type")));
    report.put("scsi-timeout", read(sysfs.resolve("device/timeout")));

    Path mnt = Files.createDirectories(Path.of("/mnt/tcmu"));
    Mounts.run(List.of("mount", "-t", "ext4", "-o", "ro", device, mnt.toString()), null);
    report.put("mounted", device);
    Files.copy(mnt.resolve("payload.bin"), out.resolve("payload-read.bin"));

    report.put("again", attacher.attach(ID, image, ATTACH_DEADLINE));
    report.put("attached", new TreeMap<>(attacher.attached(Duration.ofSeconds(10))).toString());

    Mounts.run(List.of("umount", mnt.toString()), null);
    report.put("unmounted", device);
    attacher.detach(ID, image, Duration.ofSeconds(60));
    report.put("objects-after-detach", objects());
    report.put("disk-after-detach", awaitGone(sysfs, Duration.ofSeconds(30)) ? "gone" : "present");
    report.put(
        "attached-after-detach",
        new TreeMap<>(attacher.attached(Duration.ofSeconds(10))).toString());
    report.put("done", "");
  }

  /**
   * Every configfs object a TCMU attach may create, relative to {@code target/}, sorted: HBAs and
   * their devices, loopback WWNs, their TPGs, LUNs and LUN links; "(none)" if there is none.
   */
  static String objects() throws IOException {
    List<String> all = new ArrayList<>();
    for (Path hba : children(TARGET.resolve("core"), "user_")) {
      all.add(hba.toString());
      for (Path d : children(hba, "dev_")) {
        all.add(d.toString());
      }
    }
    for (Path wwn : children(TARGET.resolve("loopback"), "naa.")) {
      all.add(wwn.toString());
      for (Path tpg : children(wwn, "tpgt_")) {
        all.add(tpg.toString());
        for (Path lun : children(tpg.resolve("lun"), "lun_")) {
          all.add(lun.toString());
          for (Path link : children(lun, "")) {
            if (Files.isSymbolicLink(link)) { // the rest are the LUN's own attributes
              all.add(link.toString());
            }
          }
        }
      }
    }
    List<String> relative =
        all.stream().map(p -> TARGET.relativize(Path.of(p)).toString()).sorted().toList();
    return relative.isEmpty() ? "(none)" : String.join(" ", relative);
  }

  private static List<Path> children(Path dir, String prefix) throws IOException {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith(prefix)).sorted().toList();
    }
  }

  private static boolean awaitGone(Path path, Duration deadline) throws InterruptedException {
    long end = System.nanoTime() + deadline.toNanos();
    while (Files.exists(path)) {
      if (System.nanoTime() > end) {
        return false;
      }
      Thread.sleep(50);
    }
    return true;
  }

  private static String read(Path file) throws IOException {
    return Files.readString(file).strip();
  }

  private static String millisSince(long t0) {
    return Long.toString((System.nanoTime() - t0) / 1_000_000);
  }

  /** Appends {@code <seconds since boot> <key> <value>} lines, one line per value. */
  private record Report(Path file) {
    void put(String key, String value) throws IOException {
      String uptime = Files.readString(Path.of("/proc/uptime")).split(" ")[0];
      String line = uptime + " " + key + " " + value.replace('\n', ' ') + "\n";
      Files.writeString(file, line, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }
  }

  /**
   * The host's kernel files, plus what tcmu-runner's qcow handler needs and overlaybd-tcmu does
   * not: the TCMU device's {@code dev_size}, equal to the image's virtual size (the handler refuses
   * to open the image otherwise: "size misconfigured, TCMU says 0"). It is written right after the
   * attacher's {@code dev_config}, before {@code enable}, through the same real configfs. For a
   * config that is not a readable qcow2 file nothing is added, and the handler fails to open it.
   */
  static final class QcowDeviceSize implements KernelFiles {
    private static final String QCOW_CONFIG = "dev_config=qcow/";
    private static final int QCOW_MAGIC = 0x514649fb; // "QFI\xfb"

    private final KernelFiles kernel;

    QcowDeviceSize(KernelFiles kernel) {
      this.kernel = kernel;
    }

    @Override
    public void write(String path, String value) throws IOException {
      kernel.write(path, value);
      if (path.endsWith("/control") && value.startsWith(QCOW_CONFIG)) {
        Path image = Path.of(value.substring(QCOW_CONFIG.length()));
        if (Files.isRegularFile(image)) {
          kernel.write(path, "dev_size=" + virtualSize(image));
        }
      }
    }

    /** The virtual size from a qcow2 header (big-endian: magic at 0, size at 24). */
    private static long virtualSize(Path image) throws IOException {
      try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
        if (f.readInt() != QCOW_MAGIC) {
          throw new IOException(image + " is not a qcow image");
        }
        f.seek(24);
        return f.readLong();
      }
    }

    @Override
    public boolean exists(String path) {
      return kernel.exists(path);
    }

    @Override
    public void mkdirs(String path) throws IOException {
      kernel.mkdirs(path);
    }

    @Override
    public String read(String path) throws IOException {
      return kernel.read(path);
    }

    @Override
    public void symlink(String link, String target) throws IOException {
      kernel.symlink(link, target);
    }

    @Override
    public void remove(String path) throws IOException {
      kernel.remove(path);
    }

    @Override
    public List<String> list(String dir) throws IOException {
      return kernel.list(dir);
    }

    @Override
    public int readStart(String device, int length) throws IOException {
      return kernel.readStart(device, length);
    }
  }
}
