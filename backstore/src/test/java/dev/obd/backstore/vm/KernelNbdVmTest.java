package dev.obd.backstore.vm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
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
 * <p>Kernel: {@code -Dobd.vm.kernelRoot=DIR} where DIR/boot/vmlinuz-6.1* and DIR/lib/modules/6.1*
 * are (default "/", as Debian's linux-image-amd64 installs them).
 */
@Tag("vm")
class KernelNbdVmTest {
  private static final String HELLO_SHA256 =
      "d3f7d10e296e5c626ea78539cb38cd8dffd043bea3627da35ce3b20c0ac68014";
  private static final List<String> MODULES =
      List.of("virtio_pci", "9pnet_virtio", "9p", "overlay", "nbd", "ext4", "loop");

  @TempDir Path dir;

  @Test
  void deviceAttachedThroughNetlinkSurvivesKill9OfTheBackstoreWithAMountedFilesystem()
      throws Exception {
    Requirements.requireRoot();
    for (String c : List.of("qemu-system-x86_64", "busybox", "cpio", "modprobe", "curl")) {
      Requirements.requireCommand(c);
    }
    Path data = Requirements.requireSharedTestData("hello-world-obd");
    Path blob =
        data.resolve(
                "blobs/sha256/022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d")
            .toAbsolutePath()
            .normalize();
    Path kroot = Path.of(System.getProperty("obd.vm.kernelRoot", "/"));
    String version = kernelVersion(kroot);
    Path kernel = kroot.resolve("boot/vmlinuz-" + version);
    Requirements.require(Files.isRegularFile(kernel), "needs a 6.1 kernel at " + kernel);

    Path target = Path.of("target").toAbsolutePath();
    String cp =
        target.resolve("classes") + ":" + Files.readString(target.resolve("classpath.txt")).trim();
    Path script = dir.resolve("guest-kernel-nbd.sh");
    Files.writeString(
        script,
        resource("guest-kernel-nbd.sh")
            .replace("@BLOB@", blob.toString())
            .replace("@CLASSPATH@", cp));
    Path initramfs = buildInitramfs(kroot, version, script);
    Path out = Files.createDirectories(dir.resolve("out"));
    Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rwxrwxrwx"));

    long start = System.nanoTime();
    try (ChildProcess qemu =
        ChildProcess.start(
            "qemu",
            List.of(
                "timeout",
                "900",
                "qemu-system-x86_64",
                "-accel",
                "tcg",
                "-cpu",
                "max",
                "-m",
                "3072",
                "-smp",
                "2",
                "-nographic",
                "-no-reboot",
                "-kernel",
                kernel.toString(),
                "-initrd",
                initramfs.toString(),
                "-append",
                "console=ttyS0 quiet panic=-1",
                "-virtfs",
                "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                "-virtfs",
                "local,path=" + out + ",mount_tag=out,security_model=none"),
            dir.resolve("qemu.log"),
            Map.of())) {
      int rc = qemu.awaitExit(Duration.ofSeconds(960));
      long seconds = (System.nanoTime() - start) / 1_000_000_000L;
      Map<String, String> r = results(out.resolve("result.txt"));
      String diagnostics =
          "qemu rc "
              + rc
              + " after "
              + seconds
              + " s; results "
              + r
              + "\nserial:\n"
              + qemu.logTail(30)
              + "\nguest:\n"
              + tail(out.resolve("guest.log"))
              + "\ndaemon-1:\n"
              + tail(out.resolve("daemon-1.log"))
              + "\ndaemon-2:\n"
              + tail(out.resolve("daemon-2.log"));
      System.out.println("VM tier took " + seconds + " s; " + r);
      assertThat(r).as(diagnostics).containsKey("done");
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
  }

  private static String kernelVersion(Path kroot) throws IOException {
    Path modules = kroot.resolve("lib/modules");
    Requirements.require(Files.isDirectory(modules), "needs kernel modules under " + modules);
    try (Stream<Path> s = Files.list(modules)) {
      List<String> v =
          s.map(p -> p.getFileName().toString())
              .filter(
                  n ->
                      n.startsWith("6.1.")
                          && Files.exists(modules.resolve(n).resolve("modules.dep")))
              .sorted(Comparator.reverseOrder())
              .toList();
      Requirements.require(
          !v.isEmpty(), "needs a Debian 6.1 kernel's modules (with modules.dep) under " + modules);
      return v.get(0);
    }
  }

  private Path buildInitramfs(Path kroot, String version, Path script) throws Exception {
    Path root = Files.createDirectories(dir.resolve("initramfs"));
    for (String d :
        List.of(
            "bin",
            "sbin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "mnt",
            "host",
            "newroot",
            "lib/modules",
            "etc")) {
      Files.createDirectories(root.resolve(d));
    }
    Path busybox =
        Path.of(Mounts.run(List.of("sh", "-c", "command -v busybox"), null).trim()).toRealPath();
    Files.copy(busybox, root.resolve("bin/busybox"));
    for (String applet : Mounts.run(List.of(busybox.toString(), "--list"), null).split("\n")) {
      Path link = root.resolve("bin").resolve(applet.trim());
      if (!applet.isBlank() && !Files.exists(link)) {
        Files.createSymbolicLink(link, Path.of("busybox"));
      }
    }
    List<String> order = new ArrayList<>();
    for (String m : MODULES) {
      String deps =
          Mounts.run(List.of("modprobe", "-d", kroot.toString(), "-S", version, "-D", m), null);
      for (String line : deps.split("\n")) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 2 && f[0].equals("insmod") && !order.contains(f[1])) {
          order.add(f[1]);
        }
      }
    }
    Map<String, String> names = new LinkedHashMap<>();
    for (String ko : order) {
      Path src = Path.of(ko);
      names.put(ko, src.getFileName().toString());
      Files.copy(src, root.resolve("lib/modules").resolve(src.getFileName()));
    }
    Files.writeString(root.resolve("etc/modules.order"), String.join("\n", names.values()) + "\n");
    Files.writeString(root.resolve("etc/guest-script"), script.toString());
    Files.writeString(root.resolve("init"), resource("init"));
    Files.setPosixFilePermissions(
        root.resolve("init"), PosixFilePermissions.fromString("rwxr-xr-x"));
    Path out = dir.resolve("initramfs.cpio.gz");
    Mounts.run(
        List.of("sh", "-c", "find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > " + out),
        root);
    return out;
  }

  private static Map<String, String> results(Path file) throws IOException {
    Map<String, String> r = new LinkedHashMap<>();
    if (!Files.exists(file)) {
      return r;
    }
    for (String line : Files.readAllLines(file)) {
      String[] f = line.split(" ", 3);
      if (f.length >= 2) {
        r.put(f[1], f.length == 3 ? f[2].trim() : "");
      }
    }
    return r;
  }

  private static String tail(Path f) {
    try {
      List<String> l = Files.readAllLines(f);
      return String.join("\n", l.subList(Math.max(0, l.size() - 25), l.size()));
    } catch (IOException e) {
      return "(none)";
    }
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = KernelNbdVmTest.class.getResourceAsStream("/vm/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
