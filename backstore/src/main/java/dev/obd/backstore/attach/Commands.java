package dev.obd.backstore.attach;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs short system commands (losetup, fusermount3) with a deadline and a useful error. */
final class Commands {
  private Commands() {}

  /** Runs {@code command}; returns stdout+stderr, or throws naming the step and the output. */
  static String run(String step, List<String> command, Duration deadline) throws AttachException {
    Process p;
    try {
      p = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new AttachException(step + ": cannot run " + command.get(0) + ": " + e.getMessage(), e);
    }
    try {
      p.getOutputStream().close();
      if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new AttachException(
            step + ": " + String.join(" ", command) + " did not finish within " + deadline);
      }
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (p.exitValue() != 0) {
        throw new AttachException(
            step + ": " + String.join(" ", command) + " exited " + p.exitValue() + ": " + out);
      }
      return out;
    } catch (IOException e) {
      throw new AttachException(step + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new AttachException(step + ": interrupted", e);
    }
  }

  static void sleep(long millis) throws AttachException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AttachException("interrupted", e);
    }
  }
}
