package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Formats a fresh writable OverlayBD device (one without a parent image) with {@code mkfs}, with
 * fixed options per filesystem. The options are never taken from labels: upstream appends the third
 * field of the {@code blob-fs-type} label to the mkfs command line, which lets whoever sets the
 * label choose command arguments (such as {@code -d /etc}, which copies a host directory into the
 * new filesystem).
 */
public final class Mkfs {
  private Mkfs() {}

  /**
   * The options per filesystem: upstream's for ext4 and f2fs. For xfs only {@code -f}: upstream's
   * {@code -l size=4m -m crc=0} is refused by Debian 12's xfsprogs 6.1 ("Log size must be at least
   * 64MB"), and without the log size it makes the deprecated V4 format, which kernel 6.18 refuses
   * to mount ("Deprecated V4 format (crc=0) not supported by kernel"). Other filesystems (erofs is
   * read-only, ntfs is not supported) have no entry.
   */
  private static final Map<String, List<String>> OPTIONS =
      Map.of(
          "ext4",
          List.of("-O", "^has_journal,sparse_super,flex_bg", "-G", "1", "-E", "discard", "-F"),
          "xfs",
          List.of("-f"),
          "f2fs",
          List.of("-S", "-w", "4096"));

  /** Whether a fresh device can be formatted with {@code fsType}. */
  public static boolean supports(String fsType) {
    return OPTIONS.containsKey(fsType);
  }

  /** The mkfs options used for {@code fsType}. */
  public static List<String> options(String fsType) {
    List<String> options = OPTIONS.get(fsType);
    if (options == null) {
      throw new IllegalArgumentException("no mkfs options for filesystem " + fsType);
    }
    return options;
  }

  /**
   * Runs {@code mkfs -t fsType <fixed options> device}.
   *
   * @throws AttachException when mkfs cannot run, fails or overruns {@code deadline}
   */
  public static void format(String device, String fsType, Duration deadline)
      throws AttachException {
    List<String> command = new ArrayList<>(List.of("mkfs", "-t", fsType));
    command.addAll(options(fsType));
    command.add(device);
    Process p;
    try {
      p = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new AttachException("format " + device + ": cannot run mkfs: " + e.getMessage(), e);
    }
    try {
      p.getOutputStream().close();
      if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new AttachException(
            "format "
                + device
                + ": "
                + String.join(" ", command)
                + " did not finish in "
                + deadline.toSeconds()
                + " s");
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (p.exitValue() != 0) {
        throw new AttachException(
            "format "
                + device
                + ": "
                + String.join(" ", command)
                + " exited with "
                + p.exitValue()
                + ": "
                + lastLine(out));
      }
    } catch (IOException e) {
      throw new AttachException("format " + device + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new AttachException("format " + device + ": interrupted", e);
    }
  }

  private static String lastLine(String out) {
    int nl = out.lastIndexOf('\n');
    return nl < 0 ? out : out.substring(nl + 1);
  }
}
