package dev.obd.backstore.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.vm.Kernel;
import dev.obd.testsupport.vm.QemuVm;
import dev.obd.testsupport.vm.Result;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel-nbd attach path, which this host's kernel cannot run: Debian's 6.1 kernel under qemu
 * TCG (KVM does not work here), the host root shared read-only, the daemon and curl from the host.
 * The hello-world image is attached as /dev/nbdN through netlink and mounted; the daemon is killed
 * with -9 while a reader waits; the restarted daemon reconnects the device (NBD_CMD_RECONFIGURE)
 * and the reader gets the right bytes. Slow (minutes): tagged "vm", run with {@code
 * -Dobd.test.groups=vm -Dobd.test.excludedGroups=none}.
 *
 * <p>The VM is {@link QemuVm}; kernel: {@code -Dobd.vm.kernelRoot=DIR} where DIR/boot/vmlinuz-6.1*
 * and DIR/lib/modules/6.1* are (default "/", as Debian's linux-image-amd64 installs them).
 */
@Tag("vm")
class KernelNbdVmTest {
  private static final String HELLO_SHA256 =
      "d3f7d10e296e5c626ea78539cb38cd8dffd043bea3627da35ce3b20c0ac68014";
  private static final List<String> MODULES = List.of("nbd", "ext4", "loop");

  @TempDir Path dir;

  @Test
  void deviceAttachedThroughNetlinkSurvivesKill9OfTheBackstoreWithAMountedFilesystem()
      throws Exception {
    QemuVm.requireTools();
    Requirements.requireCommand("curl");
    Path data = Requirements.requireSharedTestData("hello-world-obd");
    Path blob =
        data.resolve(
                "blobs/sha256/022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d")
            .toAbsolutePath()
            .normalize();
    Kernel kernel = Kernel.require();

    Path target = Path.of("target").toAbsolutePath();
    String cp =
        target.resolve("classes") + ":" + Files.readString(target.resolve("classpath.txt")).trim();
    Path script = dir.resolve("guest-kernel-nbd.sh");
    Files.writeString(
        script,
        resource("guest-kernel-nbd.sh")
            .replace("@BLOB@", blob.toString())
            .replace("@CLASSPATH@", cp));

    Result vm = new QemuVm(kernel, MODULES, 3072).run(script, dir, Duration.ofSeconds(900));
    Map<String, String> r = vm.results();
    String diagnostics = vm.diagnostics("daemon-1.log", "daemon-2.log");
    System.out.println("VM tier took " + vm.took().toSeconds() + " s; " + r);
    assertThat(r).as(diagnostics).containsKey("done");
    assertThat(r.get("nbd0")).as(diagnostics).isEqualTo("present");
    assertThat(r.get("mode")).as(diagnostics).isEqualTo("nbd");
    assertThat(r.get("device")).as(diagnostics).startsWith("/dev/nbd");
    assertThat(r.get("resultfile")).isEqualTo("success");
    assertThat(r).containsKey("mounted");
    assertThat(r.get("hello-before")).isEqualTo(HELLO_SHA256);
    assertThat(r.get("reader-waiting"))
        .as("with the daemon dead the kernel holds the read instead of failing it")
        .isEqualTo("yes");
    assertThat(r.get("hello-after-restart")).as(diagnostics).isEqualTo(HELLO_SHA256);
    assertThat(r.get("state")).isEqualTo("attached");
    assertThat(r).containsKey("unmounted");
    assertThat(r.get("delete")).isEqualTo("204");
    assertThat(r.get("size-after-delete")).isEqualTo("0");
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = KernelNbdVmTest.class.getResourceAsStream("/vm/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
