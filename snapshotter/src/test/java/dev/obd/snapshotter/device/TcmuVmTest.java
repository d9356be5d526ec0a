package dev.obd.snapshotter.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.convert.Converter;
import dev.obd.image.zfile.Compression;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import dev.obd.testsupport.vm.Kernel;
import dev.obd.testsupport.vm.QemuVm;
import dev.obd.testsupport.vm.Result;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * TCMU on a real kernel, which this host's kernel cannot be (no target_core_user, no tcm_loop, no
 * KVM): Debian's 6.1 kernel under qemu TCG ({@link QemuVm}), booted once for the whole class, with
 * one JVM in the guest running {@link TcmuVmGuest}; each test asserts one part of what it reported.
 *
 * <p>Real: the kernel, configfs, target_core_user (TCMU, its netlink handshake with the handler,
 * the enable that fails when the handler cannot open the image), tcm_loop, the SCSI disks sd
 * creates and the time they take to open (probed in a tight attach loop), ext4 on them; {@link
 * TcmuAttacher} with {@link HostKernelFiles} and upstream's configfs sequence and names;
 * obd-snapshotter's snapshotter and its gRPC service on a unix socket (assembled as the daemon
 * assembles them, see {@link SnapshotterOnTcmuGuest}), its metadata, reconciliation and mounts;
 * containerd 1.6 and runc from Debian, importing a four-layer OverlayBD image converted here by our
 * convertor, running containers on it, mounting a rwMode {@code dev} container's device itself.
 *
 * <p>Standing in for upstream's overlaybd-tcmu, which Debian does not package: Debian's tcmu-runner
 * with its "qcow" handler, the attacher configured with that handler's name. For the attacher's own
 * checks the handler serves a qcow2 image of a small ext4 built here, with the {@code dev_size} the
 * qcow handler needs written after the attacher's {@code dev_config} ({@link QcowDeviceSize}). For
 * the snapshotter, {@link OverlayBdStandIn} turns each {@code config.v1.json} the snapshotter
 * writes into a raw disk holding that config's virtual disk, exported by our own format library at
 * its first attach, which tcmu-runner then serves: the device bytes are those overlaybd-tcmu would
 * serve, but read from a copy, so lazy loading and the writable layer's own files are not exercised
 * here (the host tier does both with obd-backstore); the reason in the result file when a config
 * cannot be served is the stand-in's, the kernel's refusal of {@code enable} that follows is real.
 * The snapshotter's restart is a new snapshotter in the same JVM rather than a new process.
 *
 * <p>Slow (3 to 5 minutes, mostly TCG and its cold JVM; one VM boot for the class): tagged "vm",
 * run with {@code -Dobd.test.groups=vm -Dobd.test.excludedGroups=none}. Needs root and Debian's
 * qemu-system-x86, linux-image-amd64, busybox-static, cpio, kmod, tcmu-runner, qemu-utils,
 * e2fsprogs, containerd and runc.
 */
@Tag("vm")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TcmuVmTest {
  private static final long ID = TcmuVmGuest.ID;
  private static final String HBA = "core/user_999999999";
  private static final String TPG = "loopback/naa.1990000000004242/tpgt_1";
  private static final List<String> MODULES =
      List.of("configfs", "target_core_user", "tcm_loop", "sd_mod", "ext4");
  private static final Duration VM_DEADLINE = Duration.ofMinutes(15);

  /** What {@link SnapshotterOnTcmuGuest#MULTI_LAYER_SCRIPT} prints for the merged image. */
  private static final String MERGED =
      "kept, then changed|gone-absent|upper|recreated|sub/deep/file|deep";

  private Path payload;
  private Result vm;
  private Map<String, String> r;
  private String diagnostics;

  @BeforeAll
  void bootTheGuestOnce(@TempDir Path dir) throws Exception {
    QemuVm.requireTools();
    for (String c : List.of("tcmu-runner", "qemu-img", "mkfs.ext4", "containerd", "ctr", "runc")) {
      Requirements.requireCommand(c);
    }
    Kernel kernel = Kernel.require();
    payload = payload(dir);
    Path image = qcow2ImageWith(dir, payload);
    Path obdImage = multiLayerObdImage(dir);

    Path target = Path.of("target").toAbsolutePath();
    String cp =
        target.resolve("test-classes")
            + ":"
            + target.resolve("classes")
            + ":"
            + Files.readString(target.resolve("test-classpath.txt")).trim();
    Path script = dir.resolve("guest-tcmu.sh");
    Files.writeString(
        script,
        resource("guest-tcmu.sh")
            .replace("@QCOW2@", image.toString())
            .replace("@OBD_IMAGE@", obdImage.toString())
            .replace("@CLASSPATH@", cp));

    vm = new QemuVm(kernel, MODULES, 3072).run(script, dir, VM_DEADLINE);
    r = vm.results();
    diagnostics =
        vm.diagnostics("guest-java.log", "tcmu-runner.out", "tcmu-runner.log", "containerd.log");
    System.out.println(
        "VM tier took " + vm.took().toSeconds() + " s; guest timeline:\n" + vm.timeline());
  }

  @Test
  void attachServesTheImageAsAScsiDiskAndDetachOrAFailedAttachLeavesNoConfigfsObject()
      throws Exception {
    assertThat(r.get("runner")).as("tcmu-runner up\n%s", diagnostics).isEqualTo("ready");
    assertThat(r).as(diagnostics).containsKey("done").doesNotContainKey("attacher-error");
    assertThat(r.get("objects-before")).isEqualTo("(none)");

    // a config the handler cannot open: the kernel refuses enable; the attach fails in time
    // and removes what it made, the HBA included (it did not exist before)
    assertThat(r.get("failure"))
        .as(diagnostics)
        .startsWith("attach tcmu device for snapshot 77 (config /run/tcmu/missing.qcow2)")
        .contains("failed to enable target");
    assertThat(Long.parseLong(r.get("failure-millis"))).isLessThan(120_000);
    assertThat(r.get("objects-after-failure")).isEqualTo("(none)");

    String device = r.get("device");
    assertThat(device).matches("/dev/sd[a-z]+");
    assertThat(r.get("objects-attached"))
        .as("upstream's configfs names")
        .isEqualTo(
            String.join(
                " ",
                HBA,
                HBA + "/dev_" + ID,
                "loopback/naa.1990000000004242",
                TPG,
                TPG + "/lun/lun_0",
                TPG + "/lun/lun_0/dev_" + ID));
    assertThat(r.get("lun-link")).endsWith(HBA + "/dev_" + ID);
    assertThat(r.get("dev-config")).isEqualTo("qcow//run/tcmu/image.qcow2");
    assertThat(r.get("cmd-time-out")).isEqualTo("2147483");
    assertThat(r.get("scsi-type")).as("a direct-access disk").isEqualTo("0");
    assertThat(r.get("scsi-timeout")).isEqualTo("2147483");
    assertThat(r.get("mounted")).isEqualTo(device);
    assertThat(Files.mismatch(payload, vm.out().resolve("payload-read.bin")))
        .as("the file read through the mounted TCMU disk is byte-identical")
        .isEqualTo(-1L);

    assertThat(r.get("again")).as("a second attach of the same id").isEqualTo(device);
    assertThat(r.get("attached")).isEqualTo("{" + ID + "=" + device + "}");

    assertThat(r.get("unmounted")).isEqualTo(device);
    assertThat(r.get("objects-after-detach"))
        .as("only the HBA stays, shared by every device, as upstream leaves it")
        .isEqualTo(HBA);
    assertThat(r.get("disk-after-detach")).isEqualTo("gone");
    assertThat(r.get("attached-after-detach")).isEqualTo("{}");
    assertThat(r.get("guest-exit")).isEqualTo("0");
  }

  @Test
  void anEnableTheHandlerRefusedLeadsWithTheHandlersReasonThenTheKernelsAnswer() {
    assertThat(r.get("handler-failure"))
        .as(diagnostics)
        .startsWith(
            "attach tcmu device for snapshot 78 (config /run/tcmu/refused/block/config.v1.json):"
                + " TCMU handler qcow: the stand-in serves local layers only: ")
        .containsPattern(
            "\\(failed to enable target /sys/kernel/config/target/core/user_999999999/dev_78:"
                + " write \"1\" to [^)]*/enable: [^)]+\\)$");
    assertThat(r.get("objects-after-handler-failure"))
        .as("the failed attach removed what it made, the HBA included")
        .isEqualTo("(none)");
  }

  @Test
  void everyAttachInATightLoopHandsOutADiskThatOpensAndReadsAtOnce() {
    assertThat(r).as(diagnostics).doesNotContainKey("probe-error");
    List<String> refused = new ArrayList<>();
    for (int i = 0; i < TcmuVmGuest.PROBE_ATTACHES; i++) {
      String probe = r.get("probe-" + i);
      assertThat(probe)
          .as("attach %d: the disk it returned opened and read right away\n%s", i, diagnostics)
          .matches("/dev/sd[a-z]+ read=ok .*");
      Matcher m = Pattern.compile("refused before: (\\{[^}]*\\})").matcher(probe);
      refused.add(m.find() ? m.group(1) : "{}");
    }
    System.out.println("refused opens waited out per attach (under TCG): " + refused);
    assertThat(r.get("probe-objects-after")).isEqualTo(HBA);
  }

  @Test
  void aMultiLayerImageRunsOnOneTcmuDeviceThatMergesItsLayers() {
    assertThat(r).as(diagnostics).doesNotContainKey("snapshotter-error");
    assertThat(added(r.get("devices-after-import"), r.get("devices-with-ro")))
        .as("the first container on the image adds one read-only device: its top layer's")
        .hasSize(1)
        .allSatisfy((id, device) -> assertThat(device).matches("/dev/sd[a-z]+"));
    assertThat(r.get("image-lowers")).as("whose config stacks all four layers").isEqualTo("4");
    assertThat(r.get("ro-before"))
        .as("what the container reads is the four layers merged, on overlayfs over the device")
        .isEqualTo(MERGED + "|overlay overlay");
  }

  @Test
  void importingAMultiLayerImageAttachesNoDevice() {
    assertThat(r.get("devices-after-import"))
        .as("importing unpacks the layers; no device until a container needs one")
        .isEqualTo("{}");
  }

  @Test
  void aDevModeContainerRunsOnItsOwnTcmuDeviceWhichContainerdMounts() {
    assertThat(r).as(diagnostics).doesNotContainKey("snapshotter-error");
    Map<Long, String> own = added(r.get("devices-with-ro"), r.get("devices-with-dev"));
    assertThat(own).as("a device of its own").hasSize(1);
    String device = own.values().iterator().next();
    assertThat(r.get("dev-before"))
        .as("its root is ext4 straight on that TCMU disk, holding the merged image")
        .isEqualTo(device + " ext4|" + MERGED);
    assertThat(r.get("dev-mounts"))
        .as("Mounts hands containerd the device itself, read-write")
        .startsWith("mount -t ext4 " + device + " /mnt/x -o rw");
  }

  @Test
  void aSnapshotterRestartFindsAndKeepsTheTcmuDevicesOfRunningContainers() {
    assertThat(r).as(diagnostics).doesNotContainKey("snapshotter-error");
    String before = r.get("devices-with-dev");
    assertThat(r.get("stopped")).as("stopping detaches nothing").isEqualTo(before);
    assertThat(r.get("devices-after-restart")).as("the same devices, same disks").isEqualTo(before);
    assertThat(r.get("objects-after-restart"))
        .as("no configfs object added or removed")
        .isEqualTo(r.get("objects-before-restart"));
    assertThat(r.get("restart-warnings"))
        .as("reconciliation found nothing amiss")
        .isEqualTo("(none)");
    assertThat(r.get("dev-mounts-after-restart"))
        .as("containerd reaches the new snapshotter, which hands out the same device")
        .isEqualTo(r.get("dev-mounts"));
    assertThat(r.get("ro-after"))
        .as("the read-only device's container reads (caches dropped) and writes")
        .isEqualTo("ro-before|" + MERGED + "|ro-after");
    assertThat(r.get("dev-after"))
        .as("the dev container reads what it wrote before, from its disk, and writes on")
        .isEqualTo("dev-before|" + MERGED + "|dev-after");
  }

  @Test
  void removingTheContainersAndTheImageDetachesEveryTcmuDevice() {
    assertThat(r).as(diagnostics).doesNotContainKey("snapshotter-error");
    assertThat(r.get("devices-after-containers"))
        .as("the dev container's device goes with it; the image's stay with the image")
        .isEqualTo(r.get("devices-with-ro"));
    assertThat(r.get("devices-after-image-removal")).isEqualTo("{}");
    assertThat(r.get("objects-after-cleanup")).isEqualTo(HBA);
  }

  /** The entries of device map {@code after} ({@code {id=/dev/sdX, ...}}) not in {@code before}. */
  private static Map<Long, String> added(String before, String after) {
    Map<Long, String> out = devices(after);
    out.keySet().removeAll(devices(before).keySet());
    return out;
  }

  private static Map<Long, String> devices(String map) {
    assertThat(map).as("a device map").isNotNull().matches("\\{.*\\}");
    Map<Long, String> out = new TreeMap<>();
    Matcher m = Pattern.compile("([0-9]+)=(/dev/[a-z]+)").matcher(map);
    while (m.find()) {
      out.put(Long.parseLong(m.group(1)), m.group(2));
    }
    return out;
  }

  /** 300 KB that no file system block pattern could produce by accident. */
  private static Path payload(Path dir) throws IOException {
    byte[] bytes = new byte[300_000];
    new Random(42).nextBytes(bytes);
    Path fs = Files.createDirectories(dir.resolve("fs"));
    return Files.write(fs.resolve("payload.bin"), bytes);
  }

  /** A 16 MiB ext4 file system holding {@code payload}, converted to qcow2 (v3) by qemu-img. */
  private static Path qcow2ImageWith(Path dir, Path payload) throws IOException {
    Path raw = dir.resolve("image.raw");
    try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
      f.setLength(16 << 20);
    }
    Mounts.run(
        List.of("mkfs.ext4", "-q", "-F", "-d", payload.getParent().toString(), raw.toString()),
        null);
    Path qcow2 = dir.resolve("image.qcow2");
    Mounts.run(
        List.of(
            "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw.toString(), qcow2.toString()),
        null);
    Files.delete(raw);
    return qcow2;
  }

  /**
   * {@link TestImages#tree}'s four layers (busybox, with sync added, and three layers of changes:
   * whiteouts, an opaque directory, a directory deleted and recreated, a retargeted link),
   * converted to OverlayBD by our convertor (1 GiB disk) and written as an OCI archive for {@code
   * ctr images import}, tagged v1.
   */
  private static Path multiLayerObdImage(Path dir) throws IOException {
    OciImage tree = TestImages.tree("obd/multi");
    List<dev.obd.testsupport.oci.TarLayer> layers = new ArrayList<>(tree.layers());
    layers.set(0, TestImages.busybox().symlink("bin/sync", "busybox"));
    Path source = dir.resolve("obd-source");
    new OciImage("obd/multi", layers, List.of("/bin/sh")).writeLayout(source, "v1");
    Path converted = dir.resolve("obd-converted");
    Converter.convert(
        source,
        "v1",
        converted,
        "v1",
        new Converter.Options(1L << 30, Compression.LZ4, "ext4", dir.resolve("obd-convert-work")),
        line -> {});
    Path tar = dir.resolve("obd-multi.tar");
    Mounts.run(List.of("tar", "-C", converted.toString(), "-cf", tar.toString(), "."), null);
    return tar;
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = TcmuVmTest.class.getResourceAsStream("/vm/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
