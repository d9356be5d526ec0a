package dev.obd.backstore.attach;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * Decides, once at start, which attach path this host supports: kernel nbd when the nbd driver is
 * present (built in or loadable), otherwise nbdfuse + loop when FUSE, loop devices and nbdfuse
 * exist. The choice is logged with the reason.
 */
public final class HostCapabilities {
  private static final Logger LOG = Logger.getLogger(HostCapabilities.class.getName());

  private HostCapabilities() {}

  /** Whether the kernel's nbd driver is usable (loaded now, or loadable with modprobe). */
  public static boolean kernelNbd() {
    if (Files.isDirectory(Path.of("/sys/module/nbd")) || Files.exists(Path.of("/dev/nbd0"))) {
      return true;
    }
    if (onPath("modprobe")) {
      try {
        Process p = new ProcessBuilder("modprobe", "nbd").redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0) {
          return Files.isDirectory(Path.of("/sys/module/nbd"));
        }
        p.destroyForcibly();
      } catch (java.io.IOException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return false;
  }

  /** Whether FUSE, loop devices and nbdfuse are all present. */
  public static boolean fuseLoop() {
    return Files.exists(Path.of("/dev/fuse"))
        && Files.exists(Path.of("/dev/loop-control"))
        && onPath("nbdfuse");
  }

  /**
   * Resolves the configured mode ("auto", "nbd", "fuse") to the mode to use.
   *
   * @throws IllegalStateException when the host supports neither or not the one configured
   */
  public static AttachMode choose(String configured) {
    boolean nbd = configured.equals("auto") || configured.equals("nbd") ? kernelNbd() : false;
    if (nbd) {
      LOG.info("attach mode: kernel nbd (the nbd driver is present)");
      return AttachMode.KERNEL_NBD;
    }
    if (configured.equals("nbd")) {
      throw new IllegalStateException(
          "attachMode is nbd but this kernel has no nbd driver (no /sys/module/nbd, modprobe nbd failed)");
    }
    if (fuseLoop()) {
      LOG.info(
          "attach mode: nbdfuse + loop"
              + (configured.equals("auto")
                  ? " (no kernel nbd driver; /dev/fuse, /dev/loop-control and nbdfuse present)"
                  : " (configured)"));
      return AttachMode.FUSE_LOOP;
    }
    throw new IllegalStateException(
        "no attach path on this host: no kernel nbd driver, and nbdfuse + loop need /dev/fuse,"
            + " /dev/loop-control and nbdfuse (Debian package libnbd-bin)");
  }

  static boolean onPath(String command) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : (path + ":/usr/sbin:/sbin").split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
        return true;
      }
    }
    return false;
  }
}
