package dev.obd.image.convert;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a system tool (mkfs, losetup, mount) to completion and fails with its output. */
final class Command {
  private Command() {}

  /** Runs {@code argv}; returns its stdout+stderr; throws naming the command when it fails. */
  static String run(String what, List<String> argv) throws IOException {
    Process p;
    try {
      p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException(what + ": cannot run " + argv.get(0) + ": " + e.getMessage(), e);
    }
    p.getOutputStream().close();
    String out =
        new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(10, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException(
            what + ": " + String.join(" ", argv) + " did not finish in 10 minutes");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new InterruptedIOException(what + ": interrupted");
    }
    if (p.exitValue() != 0) {
      throw new IOException(
          what + ": " + String.join(" ", argv) + " exited " + p.exitValue() + ": " + out.strip());
    }
    return out;
  }
}
