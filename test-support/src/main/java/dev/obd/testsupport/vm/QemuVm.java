package dev.obd.testsupport.vm;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway Linux VM for tests of kernel paths this host's kernel cannot run (kernel nbd, TCMU,
 * tcm_loop; no KVM either): Debian's 6.1 kernel under qemu TCG, booted into a busybox initramfs
 * that loads {@code modules} (with their dependencies, resolved by modprobe against the kernel's
 * modules.dep), mounts the host root read-only over 9p beneath a tmpfs overlay, so that the guest
 * runs the host's own JDK, tools and build output and its writes go nowhere, moves that over the
 * initramfs's root as switch_root does (a mere chroot would leave a container's {@code runc exec}
 * in the initramfs: setns into a mount namespace goes to its root mount), and runs a bash script in
 * it. The script writes what it saw to {@code /mnt/obd-out}, a writable 9p share of a host
 * directory; {@link Result} reads it back for the test's assertions.
 *
 * <p>Result protocol: the script appends lines {@code <seconds> <key> <value...>} to {@code
 * /mnt/obd-out/result.txt}; its own output goes to {@code guest.log} there; the serial console to
 * {@code qemu.log} in the work directory.
 *
 * <p>{@link #run} owns the qemu process: it waits for the guest to power off, and on every way out
 * (deadline, test failure, interrupt) stops qemu before returning, so nothing keeps running after
 * the test. qemu runs under timeout(1) as well, so that even a killed test JVM does not leave it
 * behind. Temporary files (initramfs, logs, the out share) live in the caller's work directory.
 *
 * @param modules kernel modules the guest needs beyond the shares' own (virtio, 9p, overlay)
 * @param memoryMb guest memory; a guest JVM wants about 2 GiB
 */
public record QemuVm(Kernel kernel, List<String> modules, int memoryMb) {
  /** What the initramfs itself needs: virtio PCI, the 9p shares, the overlay over the host root. */
  private static final List<String> BASE_MODULES =
      List.of("virtio_pci", "9pnet_virtio", "9p", "overlay");

  private static final List<String> TOOLS =
      List.of("qemu-system-x86_64", "busybox", "cpio", "gzip", "modprobe", "timeout");

  /** How long qemu gets to exit after SIGTERM before it is killed. */
  private static final Duration STOP_GRACE = Duration.ofSeconds(10);

  /**
   * PID 1 of the guest (busybox sh): load the modules, mount the host root (9p, read-only) under a
   * tmpfs overlay, mount the results share, run the guest script chrooted, power off.
   */
  private static final String INIT =
      """
      #!/bin/sh
      export PATH=/bin:/sbin
      mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
      for ko in $(cat /etc/modules.order); do
        insmod /lib/modules/$ko 2>/dev/null || echo "GUEST: insmod $ko failed"
      done
      mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=mmap hostroot /host \\
        || echo "GUEST: 9p failed"
      mount -t tmpfs tmpfs /tmp; mkdir -p /tmp/up /tmp/wk
      mount -t overlay overlay -o lowerdir=/host,upperdir=/tmp/up,workdir=/tmp/wk /newroot \\
        || echo "GUEST: overlay failed"
      mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys
      mount -t devtmpfs dev /newroot/dev; mount -t tmpfs tmpfs /newroot/run
      mkdir -p /newroot/mnt/obd-out
      mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /newroot/mnt/obd-out \\
        || echo "GUEST: out share failed"
      echo "GUEST: running $(cat /etc/guest-script) at $(cut -d' ' -f1 /proc/uptime)s"
      # as switch_root does: the new root mounted over / (not only chrooted into), so that a process
      # joining a mount namespace (setns, as runc exec does) finds it as that namespace's root
      cd /newroot && mount -o move . / || echo "GUEST: moving the root failed"
      chroot . /bin/bash "$(cat /etc/guest-script)" > mnt/obd-out/guest.log 2>&1
      echo "GUEST: script exit $? at $(cut -d' ' -f1 /proc/uptime)s"
      sync; poweroff -f
      """;

  public QemuVm {
    modules = List.copyOf(modules);
  }

  /** Skips (fails under obd.test.noSkip) unless root and the tools the VM needs are present. */
  public static void requireTools() {
    Requirements.requireRoot();
    for (String c : TOOLS) {
      Requirements.requireCommand(c);
    }
  }

  /**
   * Boots the VM, runs {@code guestScript} (a bash script on the host; the guest sees it at the
   * same path) and waits until the guest powers off.
   *
   * @param workDir an empty directory of the test's; the out share is {@code workDir/out}
   * @param deadline for boot, script and power-off together
   * @throws AssertionError if the guest has not powered off by the deadline, with the serial
   *     console's and the guest log's tails
   */
  public Result run(Path guestScript, Path workDir, Duration deadline) throws IOException {
    Path initramfs = buildInitramfs(guestScript.toAbsolutePath(), workDir);
    Path out = Files.createDirectories(workDir.resolve("out"));
    Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path pidFile = workDir.resolve("qemu.pid");
    Path serial = workDir.resolve("qemu.log");
    List<String> command =
        List.of(
            "timeout",
            Long.toString(deadline.plus(STOP_GRACE).toSeconds()),
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            Integer.toString(memoryMb),
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
            "-pidfile",
            pidFile.toString(),
            "-kernel",
            kernel.image().toString(),
            "-initrd",
            initramfs.toString(),
            "-append",
            "console=ttyS0 quiet panic=-1",
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs",
            "local,path=" + out.toAbsolutePath() + ",mount_tag=out,security_model=none");
    long start = System.nanoTime();
    ChildProcess qemu = ChildProcess.start("qemu", command, serial, Map.of());
    try {
      if (!awaitExit(qemu, deadline)) {
        throw new AssertionError(
            "the VM did not power off within "
                + deadline
                + "\nserial:\n"
                + qemu.logTail(30)
                + "\nguest:\n"
                + Result.tail(out.resolve("guest.log"), 25));
      }
      int rc = qemu.awaitExit(STOP_GRACE);
      return new Result(rc, Duration.ofNanos(System.nanoTime() - start), out, serial);
    } finally {
      stop(qemu, pidFile);
    }
  }

  private static boolean awaitExit(ChildProcess qemu, Duration deadline) {
    long end = System.nanoTime() + deadline.toNanos();
    while (qemu.isAlive()) {
      if (System.nanoTime() > end) {
        return false;
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for the VM", e);
      }
    }
    return true;
  }

  /**
   * SIGTERM to timeout(1), which passes it on to qemu; if qemu outlives the grace period, SIGKILL
   * to qemu itself (killing only timeout(1) would orphan it).
   */
  private static void stop(ChildProcess qemu, Path pidFile) {
    if (qemu.isAlive()) {
      qemu.signal("TERM");
      long end = System.nanoTime() + STOP_GRACE.toNanos();
      while (qemu.isAlive() && System.nanoTime() < end) {
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    long pid = qemuPid(pidFile);
    if (pid > 0) {
      ProcessHandle.of(pid)
          .filter(p -> p.info().command().orElse("").contains("qemu"))
          .ifPresent(
              p -> {
                p.destroyForcibly();
                p.onExit().orTimeout(10, TimeUnit.SECONDS).exceptionally(e -> p).join();
              });
    }
    qemu.close();
  }

  /** qemu's pid from its pid file; 0 if there is none (not started yet, or exited cleanly). */
  private static long qemuPid(Path pidFile) {
    try {
      String text = Files.exists(pidFile) ? Files.readString(pidFile).trim() : "";
      return text.matches("[0-9]+") ? Long.parseLong(text) : 0;
    } catch (IOException e) {
      throw new UncheckedIOException("read qemu's pid file " + pidFile, e);
    }
  }

  private Path buildInitramfs(Path guestScript, Path workDir) throws IOException {
    Path root = Files.createDirectories(workDir.resolve("initramfs"));
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
    List<String> names = new ArrayList<>();
    for (Path ko : kernel.modulesWithDependencies(allModules())) {
      names.add(ko.getFileName().toString());
      Files.copy(ko, root.resolve("lib/modules").resolve(ko.getFileName()));
    }
    Files.writeString(root.resolve("etc/modules.order"), String.join("\n", names) + "\n");
    Files.writeString(root.resolve("etc/guest-script"), guestScript.toString());
    Files.writeString(root.resolve("init"), INIT);
    Files.setPosixFilePermissions(
        root.resolve("init"), PosixFilePermissions.fromString("rwxr-xr-x"));
    Path image = workDir.resolve("initramfs.cpio.gz").toAbsolutePath();
    Mounts.run(
        List.of("sh", "-c", "find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > " + image),
        root);
    return image;
  }

  private List<String> allModules() {
    Set<String> all = new LinkedHashSet<>(BASE_MODULES);
    all.addAll(modules);
    return List.copyOf(all);
  }
}
