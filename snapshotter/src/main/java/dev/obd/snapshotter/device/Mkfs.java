package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Formats a fresh writable OverlayBD device (one without a parent image) with {@code mkfs}, using
 * upstream's options per filesystem unless the layer's {@code blob-fs-type} label names its own.
 */
public final class Mkfs {
  private Mkfs() {}

  /** Upstream's mkfs options per filesystem type. */
  public static List<String> defaultOptions(String fsType) {
    return switch (fsType) {
      case "ext4" ->
          List.of("-O", "^has_journal,sparse_super,flex_bg", "-G", "1", "-E", "discard", "-F");
      case "xfs" -> List.of("-f", "-l", "size=4m", "-m", "crc=0");
      case "f2fs" -> List.of("-S", "-w", "4096");
      case "ntfs" -> List.of("-F", "-f");
      default -> List.of();
    };
  }

  /**
   * Runs {@code mkfs -t fsType options device}.
   *
   * @param options space-separated options, or empty for {@link #defaultOptions}
   */
  public static void format(String device, String fsType, String options, Duration deadline)
      throws AttachException {
    List<String> command = new ArrayList<>(List.of("mkfs", "-t", fsType));
    command.addAll(
        options.isBlank() ? defaultOptions(fsType) : Arrays.asList(options.trim().split("\\s+")));
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
