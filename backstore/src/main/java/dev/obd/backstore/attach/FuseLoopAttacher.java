package dev.obd.backstore.attach;

import dev.obd.backstore.nbd.NbdServer;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * The attach path for kernels without nbd: nbdfuse (libnbd) connects to the export's unix socket
 * and shows it as a file on a FUSE mount; a loop device maps that file. Works on any kernel with
 * FUSE and loop devices, such as our CI machines.
 *
 * <p>Restart behaviour: nbdfuse cannot reconnect (libnbd 1.14's nbdfuse even aborts on the first
 * request after its server died), so while the backstore is down reads through the device fail with
 * EIO; nothing hangs. A restarted backstore reconnects a device that is <em>not in use</em> by
 * starting a new nbdfuse and swapping the read-only loop device's backing file to it
 * (LOOP_CHANGE_FD), so its name stays valid. A device with a mounted filesystem cannot be saved:
 * since Linux 6.6 LOOP_CHANGE_FD marks the old medium dead and the kernel shuts the mounted
 * filesystem down, so the daemon lists such a device as broken with that reason; the owner
 * unmounts, removes and adds it again. Writable devices are never swapped (the kernel allows
 * LOOP_CHANGE_FD only on read-only loop devices). The kernel-nbd path has none of these limits.
 */
public final class FuseLoopAttacher implements Attacher {
  private static final Logger LOG = Logger.getLogger(FuseLoopAttacher.class.getName());

  private final Path runDir;

  public FuseLoopAttacher(Path runDir) {
    this.runDir = runDir;
  }

  @Override
  public AttachMode mode() {
    return AttachMode.FUSE_LOOP;
  }

  @Override
  public Attachment attach(String id, NbdServer server, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    boolean readOnly = server.export().readOnly();
    Fuse fuse = startNbdfuse(id, server, readOnly, end);
    try {
      String loop = LoopDevices.attach(fuse.file(), readOnly, remaining(end, "losetup"));
      LOG.info("attached " + loop + " (nbdfuse pid " + fuse.pid() + " at " + fuse.mount() + ")");
      return new Attachment(AttachMode.FUSE_LOOP, loop, -1, fuse.mount().toString(), fuse.pid());
    } catch (AttachException e) {
      stopNbdfuse(fuse.mount(), fuse.pid(), Duration.ofSeconds(5));
      throw e;
    }
  }

  @Override
  public Attachment reconnect(String id, Attachment previous, NbdServer server, Duration deadline)
      throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    if (!exists(previous)) {
      throw new AttachException("reconnect " + previous.device() + ": the loop device is gone");
    }
    if (LoopDevices.inUse(previous.device())) {
      throw new AttachException(
          "reconnect "
              + previous.device()
              + ": it is in use (mounted); on the nbdfuse path a mounted filesystem cannot survive a"
              + " backstore restart (swapping the loop device's file shuts the filesystem down on"
              + " Linux 6.6 and later): unmount it, remove the device and add it again");
    }
    if (!server.export().readOnly()) {
      throw new AttachException(
          "reconnect "
              + previous.device()
              + ": a writable nbdfuse device cannot be reconnected (the kernel swaps the file under"
              + " a loop device only when it is read-only); remove and add it again");
    }
    Fuse fuse = startNbdfuse(id, server, true, end);
    try {
      LoopDevices.changeBackingFile(previous.device(), fuse.file());
    } catch (AttachException e) {
      stopNbdfuse(fuse.mount(), fuse.pid(), Duration.ofSeconds(5));
      throw e;
    }
    if (!previous.fuseMount().isEmpty()) {
      stopNbdfuse(
          Path.of(previous.fuseMount()), previous.nbdfusePid(), remaining(end, "stop old nbdfuse"));
    }
    LOG.info(
        "reconnected "
            + previous.device()
            + " to a new nbdfuse (pid "
            + fuse.pid()
            + ") after a restart");
    return new Attachment(
        AttachMode.FUSE_LOOP, previous.device(), -1, fuse.mount().toString(), fuse.pid());
  }

  @Override
  public void detach(Attachment a, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    if (exists(a)) {
      if (LoopDevices.inUse(a.device())) {
        throw new DeviceHeldException(a.device());
      }
      LoopDevices.detach(a.device(), remaining(end, "losetup -d"));
    }
    stopNbdfuse(Path.of(a.fuseMount()), a.nbdfusePid(), remaining(end, "stop nbdfuse"));
  }

  @Override
  public boolean exists(Attachment a) {
    String backing = LoopDevices.backingFile(a.device());
    return !backing.isEmpty()
        && backing.startsWith(a.fuseMount().isEmpty() ? "/" : runDir.resolve("fuse").toString());
  }

  private record Fuse(Path mount, Path file, long pid) {}

  private Fuse startNbdfuse(String id, NbdServer server, boolean readOnly, long end)
      throws AttachException {
    Path mount = runDir.resolve("fuse").resolve(id + "-" + Long.toHexString(System.nanoTime()));
    Path pidFile = mount.resolveSibling(mount.getFileName() + ".pid");
    Path log = mount.resolveSibling(mount.getFileName() + ".log");
    Path file = mount.resolve("disk");
    try {
      Files.createDirectories(mount);
      Files.deleteIfExists(pidFile);
    } catch (IOException e) {
      throw new AttachException("create nbdfuse mount point " + mount + ": " + e.getMessage(), e);
    }
    // Attributes cached "forever": after nbdfuse loses its server (and aborts), the kernel can
    // still size the old file, which LOOP_CHANGE_FD needs (newer kernels stat the old file).
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "nbdfuse",
                "-o",
                "attr_timeout=1000000000,entry_timeout=1000000000",
                "-P",
                pidFile.toString()));
    if (readOnly) {
      cmd.addAll(List.of("-r", "-C", "4"));
    }
    cmd.add(file.toString());
    cmd.add("nbd+unix:///?socket=" + server.socket());
    Process p;
    try {
      p =
          new ProcessBuilder(cmd)
              .redirectInput(new File("/dev/null"))
              .redirectOutput(log.toFile())
              .redirectErrorStream(true)
              .start();
    } catch (IOException e) {
      throw new AttachException("start nbdfuse for " + server.socket() + ": " + e.getMessage(), e);
    }
    long size = server.export().disk().size();
    while (true) {
      if (Files.exists(pidFile) && sizeOf(file) == size) {
        return new Fuse(mount, file, p.pid());
      }
      if (!p.isAlive()) {
        throw new AttachException(
            "start nbdfuse for "
                + server.socket()
                + ": it exited "
                + p.exitValue()
                + ": "
                + tail(log));
      }
      if (System.nanoTime() > end) {
        p.destroyForcibly();
        throw new AttachException(
            "start nbdfuse for "
                + server.socket()
                + ": not ready before the deadline: "
                + tail(log));
      }
      Commands.sleep(10);
    }
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      return -1;
    }
  }

  /** Unmounts the FUSE mount (nbdfuse then exits) and cleans up its files. */
  void stopNbdfuse(Path mount, long pid, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    if (isMounted(mount)) {
      try {
        Commands.run(
            "unmount nbdfuse at " + mount,
            List.of("fusermount3", "-u", mount.toString()),
            deadline);
      } catch (AttachException e) {
        Commands.run(
            "lazily unmount nbdfuse at " + mount,
            List.of("umount", "-l", mount.toString()),
            deadline);
      }
    }
    Optional<ProcessHandle> h = pid > 0 ? ProcessHandle.of(pid) : Optional.empty();
    if (h.isPresent() && isNbdfuse(h.get())) {
      while (h.get().isAlive() && System.nanoTime() < end) {
        Commands.sleep(10);
      }
      if (h.get().isAlive()) {
        h.get().destroyForcibly();
      }
    }
    try {
      Files.deleteIfExists(mount);
      Files.deleteIfExists(mount.resolveSibling(mount.getFileName() + ".pid"));
      Files.deleteIfExists(mount.resolveSibling(mount.getFileName() + ".log"));
    } catch (IOException e) {
      LOG.warning("clean up nbdfuse files of " + mount + ": " + e.getMessage());
    }
  }

  private static boolean isNbdfuse(ProcessHandle h) {
    return h.info().command().map(c -> c.endsWith("nbdfuse")).orElse(false);
  }

  static boolean isMounted(Path mount) {
    try {
      String target = " " + mount.toAbsolutePath() + " ";
      return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
          .anyMatch(l -> l.contains(target));
    } catch (IOException e) {
      return false;
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
    } catch (IOException e) {
      return "(no log)";
    }
  }

  static Duration remaining(long end, String step) throws AttachException {
    long left = end - System.nanoTime();
    if (left <= 0) {
      throw new AttachException(step + ": deadline passed");
    }
    return Duration.ofNanos(left);
  }
}
