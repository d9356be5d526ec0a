package dev.obd.image;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a command for a test and returns its output; fails with the output when it fails. */
public final class Exec {
  private Exec() {}

  public static String run(String... command) throws IOException, InterruptedException {
    Result r = tryRun(command);
    if (r.exit() != 0) {
      throw new IOException(String.join(" ", command) + " exited " + r.exit() + ":\n" + r.output());
    }
    return r.output();
  }

  public static Result tryRun(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", command) + " timed out");
    }
    return new Result(p.exitValue(), out);
  }

  public record Result(int exit, String output) {}
}
