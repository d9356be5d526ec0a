package dev.obd.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A process a test started (a daemon, a registry), with its output in a log file. Every wait has a
 * deadline and fails with the log's tail. {@link #close} kills it if it still runs, so a test using
 * try-with-resources leaves nothing behind even when it fails.
 */
public final class ChildProcess implements AutoCloseable {
  private final String name;
  private final Process process;
  private final Path log;

  private ChildProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code command} with stdout and stderr appended to {@code log}. */
  public static ChildProcess start(
      String name, List<String> command, Path log, Map<String, String> env) {
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    try {
      return new ChildProcess(name, pb.start(), log);
    } catch (IOException e) {
      throw new UncheckedIOException("start " + name + ": " + command, e);
    }
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  public Path log() {
    return log;
  }

  /** The last {@code lines} lines of the log, for failure messages. */
  public String logTail(int lines) {
    try {
      List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /**
   * Waits until {@code condition} holds, polling every 10 ms.
   *
   * @throws AssertionError naming {@code what} with the log tail if the deadline passes or the
   *     process exits first
   */
  public void awaitCondition(String what, Duration deadline, BooleanSupplier condition) {
    long end = System.nanoTime() + deadline.toNanos();
    while (!condition.getAsBoolean()) {
      if (!process.isAlive()) {
        throw new AssertionError(
            name
                + " exited with "
                + process.exitValue()
                + " before "
                + what
                + "; log:\n"
                + logTail(40));
      }
      if (System.nanoTime() > end) {
        throw new AssertionError(
            name + ": no " + what + " within " + deadline + "; log:\n" + logTail(40));
      }
      sleep(10);
    }
  }

  /** Sends SIGTERM and waits for the exit; returns the exit code. */
  public int terminate(Duration deadline) {
    process.destroy(); // SIGTERM
    return awaitExit(deadline);
  }

  /** Sends SIGKILL and waits for the exit. */
  public void kill9() {
    process.destroyForcibly();
    awaitExit(Duration.ofSeconds(10));
  }

  /** Sends a signal by name (e.g. "INT") with kill(1). */
  public void signal(String signal) {
    try {
      Process p = new ProcessBuilder("kill", "-" + signal, Long.toString(pid())).start();
      p.waitFor(5, TimeUnit.SECONDS);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Waits for the process to exit and returns its exit code. */
  public int awaitExit(Duration deadline) {
    try {
      if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError(
            name + " did not exit within " + deadline + "; log:\n" + logTail(40));
      }
      return process.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted waiting for " + name, e);
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }
}
