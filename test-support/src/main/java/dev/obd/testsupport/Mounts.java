package dev.obd.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Mounts made by a test, undone in reverse order by {@link #close} even when the test fails. Uses
 * util-linux mount(8)/umount(8), as an operator would.
 */
public final class Mounts implements AutoCloseable {
  private final Deque<Path> mounted = new ArrayDeque<>();

  /** Runs {@code mount args... target} (in {@code workDir} when not null) and records target. */
  public void mount(Path target, Path workDir, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add("mount");
    cmd.addAll(List.of(args));
    cmd.add(target.toString());
    run(cmd, workDir);
    mounted.push(target);
  }

  /** Unmounts {@code target} now. */
  public void unmount(Path target) {
    run(List.of("umount", target.toString()), null);
    mounted.remove(target);
  }

  @Override
  public void close() {
    List<String> failures = new ArrayList<>();
    while (!mounted.isEmpty()) {
      Path target = mounted.pop();
      try {
        run(List.of("umount", target.toString()), null);
      } catch (RuntimeException e) {
        try {
          run(List.of("umount", "-l", target.toString()), null);
        } catch (RuntimeException e2) {
          failures.add(target + ": " + e2.getMessage());
        }
      }
    }
    if (!failures.isEmpty()) {
      throw new IllegalStateException("could not unmount " + failures);
    }
  }

  /** Runs a command, failing with its output if it does not exit 0 within a minute. */
  public static String run(List<String> command, Path workDir) {
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    if (workDir != null) {
      pb.directory(workDir.toFile());
    }
    try {
      Process p = pb.start();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException(command + " did not finish within 60 s");
      }
      String text = new String(out, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new IllegalStateException(command + " exited " + p.exitValue() + ": " + text.trim());
      }
      return text;
    } catch (IOException e) {
      throw new UncheckedIOException("run " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted running " + command, e);
    }
  }
}
