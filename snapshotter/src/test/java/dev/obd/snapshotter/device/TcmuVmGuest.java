package dev.obd.snapshotter.device;

import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * The guest half of {@link TcmuVmTest}: a main run by the VM's one JVM, as root, on the guest
 * kernel's configfs, while tcmu-runner serves its "qcow" handler. Three parts, each reported under
 * its own keys, so that one surprise does not hide the rest:
 *
 * <ol>
 *   <li>the attacher: {@link TcmuAttacher} through a failing attach (the handler cannot open the
 *       image), a failing attach whose handler says why in the result file, an attach, a mount, a
 *       repeated attach, {@code attached()} and a detach;
 *   <li>the attach race, probed in a tight loop: attach, open and read the disk at once, detach;
 *   <li>the snapshotter under containerd: {@link SnapshotterOnTcmuGuest}, started while the first
 *       two run.
 * </ol>
 *
 * It writes what it saw to {@code result.txt} in the out share ({@link GuestReport}) and asserts
 * nothing itself: the host side asserts.
 *
 * <p>Arguments: the qcow2 image (writable: tcmu-runner opens it read-write), a path that does not
 * exist, the out share, the multi-layer OverlayBD image as an OCI archive.
 */
final class TcmuVmGuest {
  static final long ID = 4242;
  static final long FAILING_ID = 77;
  static final long REFUSED_ID = 78;
  static final long PROBE_ID = 4300;
  static final int PROBE_ATTACHES = 8;
  private static final Path TARGET = Path.of("/sys/kernel/config/target");
  private static final Duration ATTACH_DEADLINE = Duration.ofSeconds(120);

  private TcmuVmGuest() {}

  public static void main(String[] args) throws Exception {
    Path image = Path.of(args[0]);
    Path missing = Path.of(args[1]);
    Path out = Path.of(args[2]);
    Path obdImage = Path.of(args[3]);
    GuestReport report = new GuestReport(out.resolve("result.txt"));
    try {
      attacher(image, missing, out, report);
    } catch (Exception | AssertionError e) {
      report.failed("attacher", e);
    }
    try {
      probe(image, report);
    } catch (Exception | AssertionError e) {
      report.failed("probe", e);
    }
    // Only now: a starting snapshotter reconciles the HBA these attaches use and removes the
    // devices it does not know, so started beside them it took theirs away mid-test whenever
    // they ran slower than its start (as when the first call also loads the native binding).
    ExecutorService background = Executors.newSingleThreadExecutor();
    Future<SnapshotterOnTcmuGuest> snapshotter =
        background.submit(() -> SnapshotterOnTcmuGuest.start(report));
    try {
      snapshotter.get().run(obdImage);
    } catch (ExecutionException e) {
      report.failed("snapshotter", e.getCause());
    } catch (Exception | AssertionError e) {
      report.failed("snapshotter", e);
    } finally {
      background.shutdown();
    }
    report.put("done", "");
  }

  private static void attacher(Path image, Path missing, Path out, GuestReport report)
      throws Exception {
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

    // A config.v1.json whose layer is missing: the stand-in says so in the result file, as
    // overlaybd-tcmu does, and the real kernel refuses enable.
    Path block = Files.createDirectories(Path.of("/run/tcmu/refused/block"));
    Path config = block.resolve("config.v1.json");
    Files.writeString(
        config,
        "{\"lowers\":[{\"dir\":\"/run/tcmu/refused/fs\"}],\"resultFile\":\""
            + block.resolve("init-debug.log")
            + "\"}");
    TcmuAttacher standIn =
        new TcmuAttacher(new OverlayBdStandIn(new HostKernelFiles()), -1, OverlayBdStandIn.HANDLER);
    try {
      report.put(
          "handler-failure",
          "none: attached " + standIn.attach(REFUSED_ID, config, ATTACH_DEADLINE));
    } catch (AttachException e) {
      report.put("handler-failure", e.getMessage());
    }
    report.put("objects-after-handler-failure", objects());

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
    report.put("attached", devices(attacher.attached(Duration.ofSeconds(10))));

    Mounts.run(List.of("umount", mnt.toString()), null);
    report.put("unmounted", device);
    attacher.detach(ID, image, Duration.ofSeconds(60));
    report.put("objects-after-detach", objects());
    report.put("disk-after-detach", awaitGone(sysfs, Duration.ofSeconds(30)) ? "gone" : "present");
    report.put("attached-after-detach", devices(attacher.attached(Duration.ofSeconds(10))));
  }

  /**
   * Attaches and detaches the image {@link #PROBE_ATTACHES} times; right after each attach returns,
   * opens and reads the disk itself, as the filesystem probe would. Reports per attach the device,
   * that read, and the refused opens the attacher waited out ({@link DeviceReadiness} logs them).
   */
  private static void probe(Path image, GuestReport report) throws Exception {
    List<String> waits = new ArrayList<>();
    Logger readiness = Logger.getLogger(DeviceReadiness.class.getName());
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            synchronized (waits) {
              waits.add(r.getMessage());
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    capture.setLevel(Level.ALL);
    readiness.setLevel(Level.FINE);
    readiness.addHandler(capture);
    TcmuAttacher attacher = new TcmuAttacher(new QcowDeviceSize(new HostKernelFiles()), -1, "qcow");
    try {
      for (int i = 0; i < PROBE_ATTACHES; i++) {
        long id = PROBE_ID + i;
        synchronized (waits) {
          waits.clear();
        }
        long t0 = System.nanoTime();
        String device = attacher.attach(id, image, ATTACH_DEADLINE);
        String read = readAtOnce(device);
        String millis = millisSince(t0);
        String waited;
        synchronized (waits) {
          waited = waits.isEmpty() ? "none" : String.join("; ", waits);
        }
        report.put(
            "probe-" + i,
            device + " read=" + read + " attach-millis=" + millis + " waited=" + waited);
        attacher.detach(id, image, Duration.ofSeconds(60));
        Path sysfs = Path.of("/sys/block", Path.of(device).getFileName().toString());
        if (!awaitGone(sysfs, Duration.ofSeconds(30))) {
          report.put("probe-" + i + "-detach", device + " still present");
        }
      }
    } finally {
      readiness.removeHandler(capture);
    }
    report.put("probe-objects-after", objects());
  }

  /** Opens {@code device} and reads its first page, once: "ok", or the error. */
  private static String readAtOnce(String device) {
    try (RandomAccessFile f = new RandomAccessFile(device, "r")) {
      f.readFully(new byte[DeviceReadiness.PROBE_BYTES]);
      return "ok";
    } catch (IOException e) {
      return e.toString().replace(' ', '_');
    }
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

  /** The devices of {@code attached}, by snapshot id, as text: {@code {id=/dev/sdX}}. */
  private static String devices(java.util.Map<Long, AttachedDevice> attached) {
    TreeMap<Long, String> out = new TreeMap<>();
    attached.forEach((id, a) -> out.put(id, a.device()));
    return out.toString();
  }
}
