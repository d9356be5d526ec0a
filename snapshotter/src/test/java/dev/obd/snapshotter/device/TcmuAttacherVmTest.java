package dev.obd.snapshotter.device;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
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
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TcmuAttacher} on a real kernel, which this host's kernel cannot be (no target_core_user,
 * no tcm_loop, no KVM): Debian's 6.1 kernel under qemu TCG ({@link QemuVm}), the attacher run by
 * {@link TcmuAttacherVmGuest} in a JVM inside the guest, with {@link HostKernelFiles}.
 *
 * <p>Real: the kernel, configfs, target_core_user (TCMU, its netlink handshake with the handler,
 * the enable that fails when the handler cannot open the image), tcm_loop, the SCSI disk sd
 * creates, ext4 mounting it. Standing in for upstream's overlaybd-tcmu: Debian's tcmu-runner with
 * its "qcow" handler serving a qcow2 image of a small ext4 file system built here. The qcow handler
 * needs the TCMU device's {@code dev_size} (overlaybd-tcmu sizes the disk itself), so the guest
 * wraps HostKernelFiles to write it right after the attacher's {@code dev_config}; everything else
 * the kernel sees is the attacher's own sequence. The attach id, the configfs names and the order
 * of operations are upstream's.
 *
 * <p>Slow: tagged "vm", run with {@code -Dobd.test.groups=vm -Dobd.test.excludedGroups=none}. Needs
 * root and Debian's qemu-system-x86, linux-image-amd64, busybox-static, cpio, kmod, tcmu-runner,
 * qemu-utils and e2fsprogs.
 */
@Tag("vm")
class TcmuAttacherVmTest {
  private static final long ID = TcmuAttacherVmGuest.ID;
  private static final String HBA = "core/user_999999999";
  private static final String TPG = "loopback/naa.1990000000004242/tpgt_1";
  private static final List<String> MODULES =
      List.of("configfs", "target_core_user", "tcm_loop", "sd_mod", "ext4");
  private static final Duration VM_DEADLINE = Duration.ofMinutes(10);

  @TempDir Path dir;

  @Test
  void attachServesTheImageAsAScsiDiskAndDetachOrAFailedAttachLeavesNoConfigfsObject()
      throws Exception {
    QemuVm.requireTools();
    for (String c : List.of("tcmu-runner", "qemu-img", "mkfs.ext4")) {
      Requirements.requireCommand(c);
    }
    Kernel kernel = Kernel.require();
    Path payload = payload();
    Path image = qcow2ImageWith(payload);

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
        resource("guest-tcmu.sh").replace("@QCOW2@", image.toString()).replace("@CLASSPATH@", cp));

    Result vm = new QemuVm(kernel, MODULES, 2048).run(script, dir, VM_DEADLINE);
    Map<String, String> r = vm.results();
    String diagnostics = vm.diagnostics("guest-java.log", "tcmu-runner.out", "tcmu-runner.log");
    System.out.println("VM tier took " + vm.took().toSeconds() + " s; " + r);

    assertThat(r.get("runner")).as("tcmu-runner up\n%s", diagnostics).isEqualTo("ready");
    assertThat(r).as(diagnostics).containsKey("done").doesNotContainKey("error");
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

  /** 300 KB that no file system block pattern could produce by accident. */
  private Path payload() throws IOException {
    byte[] bytes = new byte[300_000];
    new Random(42).nextBytes(bytes);
    Path fs = Files.createDirectories(dir.resolve("fs"));
    return Files.write(fs.resolve("payload.bin"), bytes);
  }

  /** A 16 MiB ext4 file system holding {@code payload}, converted to qcow2 (v3) by qemu-img. */
  private Path qcow2ImageWith(Path payload) throws IOException {
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

  private static String resource(String name) throws IOException {
    try (InputStream in = TcmuAttacherVmTest.class.getResourceAsStream("/vm/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
