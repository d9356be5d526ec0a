package dev.obd.testsupport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/**
 * What a test needs from the machine: root, a command, the shared test data. A missing requirement
 * skips the test on a developer's machine; with {@code -Dobd.test.noSkip=true} (set by CI) it fails
 * the test instead, so that nothing is silently skipped there.
 */
public final class Requirements {
  private Requirements() {}

  /** Whether skips are turned into failures (CI). */
  public static boolean noSkip() {
    return Boolean.getBoolean("obd.test.noSkip");
  }

  /** Skips (or fails, in CI) with {@code reason} unless {@code condition} holds. */
  public static void require(boolean condition, String reason) {
    if (condition) {
      return;
    }
    if (noSkip()) {
      throw new AssertionFailedError(
          "requirement not met (skips are failures with obd.test.noSkip): " + reason);
    }
    throw new TestAbortedException(reason);
  }

  public static boolean isRoot() {
    return "root".equals(System.getProperty("user.name")) || uid() == 0;
  }

  /** The test mounts, creates devices or starts system daemons: it must run as root. */
  public static void requireRoot() {
    require(isRoot(), "needs root (real mounts and devices)");
  }

  /** Requires {@code command} on PATH (e.g. a Debian package the test suite installs). */
  public static void requireCommand(String command) {
    require(onPath(command), "needs the command " + command + " on PATH");
  }

  public static boolean onPath(String command) {
    String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
    for (String dir : (path + ":/usr/sbin:/sbin").split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
        return true;
      }
    }
    return false;
  }

  /**
   * The shared, read-only test data ({@code ../shared/testdata} next to the repository). It is
   * absent on a user's machine; tests that need it skip there and fail in CI.
   */
  public static Path requireSharedTestData(String name) {
    Path dir = sharedDir().resolve("testdata").resolve(name);
    require(Files.isDirectory(dir), "needs the shared test data " + dir + " (absent here)");
    return dir;
  }

  /** {@code ../shared} relative to the repository root. */
  public static Path sharedDir() {
    String configured = System.getProperty("obd.sharedDir");
    if (configured != null) {
      return Path.of(configured).toAbsolutePath().normalize();
    }
    return repositoryRoot().resolveSibling("shared");
  }

  /** The repository root: the nearest ancestor of the working directory with a .git or mvnw. */
  public static Path repositoryRoot() {
    Path dir = Path.of("").toAbsolutePath();
    for (Path p = dir; p != null; p = p.getParent()) {
      if (Files.exists(p.resolve(".git")) || Files.exists(p.resolve(".ci"))) {
        return p;
      }
    }
    return dir.getParent() != null ? dir.getParent() : dir;
  }

  private static int uid() {
    try {
      Process p = new ProcessBuilder("id", "-u").redirectErrorStream(true).start();
      if (!p.waitFor(5, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return -1;
      }
      return Integer.parseInt(new String(p.getInputStream().readAllBytes()).trim());
    } catch (IOException | NumberFormatException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }
}
