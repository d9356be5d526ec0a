package dev.obd.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Debian packages from suites other than the machine's (containerd 1.7 and 2.x, a newer Go, Go
 * sources), unpacked by {@code test-support/fetch-debian-packages} into a cache that outlives test
 * runs ({@code OBD_TEST_CACHE}, default {@value #DEFAULT_CACHE}). The units and their packages are
 * listed once, in {@code unpacked-packages.txt} next to this class, which the fetch script reads
 * too. {@code ./test.sh} fetches while Maven builds and runs the other modules; a test that finds a
 * unit missing waits for that fetch to end, then skips, and fails under {@code obd.test.noSkip}
 * (CI), naming the unit, how to fetch it, and what the fetch said.
 */
public final class UnpackedPackages {
  static final String DEFAULT_CACHE = "/var/cache/obd-snapshotter-tests";
  private static final String LIST = "unpacked-packages.txt";
  private static final Duration FETCH_DEADLINE = Duration.ofMinutes(20);
  private static final Map<String, String> UNITS = readList();

  private UnpackedPackages() {}

  /** The cache directory the fetch script unpacks into. */
  public static Path cacheDir() {
    String configured = System.getenv("OBD_TEST_CACHE");
    return Path.of(configured == null || configured.isBlank() ? DEFAULT_CACHE : configured);
  }

  /** The names of the listed units, in the list's order. */
  public static List<String> units() {
    return List.copyOf(UNITS.keySet());
  }

  /**
   * The directory {@code unit} is unpacked in (it holds {@code usr/...} as the packages do). Skips,
   * or fails in CI, unless it was unpacked from exactly the listed packages.
   */
  public static Path require(String unit) {
    String line = UNITS.get(unit);
    if (line == null) {
      throw new IllegalArgumentException("no unit " + unit + " in " + LIST + ": " + units());
    }
    Path dir = cacheDir().resolve(unit);
    if (!line.equals(marker(dir))) {
      awaitFetch();
    }
    Requirements.require(
        line.equals(marker(dir)),
        "needs "
            + unit
            + " (Debian "
            + line
            + ") unpacked in "
            + dir
            + ": run test-support/fetch-debian-packages (./test.sh does)"
            + fetchLogTail());
    return dir;
  }

  /**
   * Waits while the fetch ./test.sh started in the background runs: its pid is in {@code .fetching}
   * in the cache, which the fetch removes when it ends.
   */
  private static void awaitFetch() {
    Path fetching = cacheDir().resolve(".fetching");
    long end = System.nanoTime() + FETCH_DEADLINE.toNanos();
    boolean told = false;
    while (true) {
      Optional<ProcessHandle> fetch;
      try {
        fetch = ProcessHandle.of(Long.parseLong(Files.readString(fetching).strip()));
      } catch (IOException | NumberFormatException gone) {
        return;
      }
      if (fetch.isEmpty() || !fetch.get().isAlive()) {
        return;
      }
      if (System.nanoTime() > end) {
        throw new AssertionError(
            "fetch-debian-packages (pid "
                + fetch.get().pid()
                + ") still runs after "
                + FETCH_DEADLINE.toMinutes()
                + " min"
                + fetchLogTail());
      }
      if (!told) {
        System.out.println("waiting for fetch-debian-packages (pid " + fetch.get().pid() + ")");
        told = true;
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for fetch-debian-packages", e);
      }
    }
  }

  /** The end of the background fetch's log, when there is one. */
  private static String fetchLogTail() {
    try {
      List<String> lines = Files.readAllLines(cacheDir().resolve("fetch.log"));
      return lines.isEmpty()
          ? ""
          : "; its log ends:\n"
              + String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size()));
    } catch (IOException none) {
      return "";
    }
  }

  private static String marker(Path dir) {
    try {
      return Files.readString(dir.resolve(".unpacked"), StandardCharsets.UTF_8).strip();
    } catch (IOException absent) {
      return null;
    }
  }

  /** unit → "suite package...", as the fetch script writes into the unit's marker file. */
  private static Map<String, String> readList() {
    try (InputStream in = UnpackedPackages.class.getResourceAsStream(LIST)) {
      if (in == null) {
        throw new IllegalStateException(LIST + " is missing from test-support's resources");
      }
      Map<String, String> units = new LinkedHashMap<>();
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        String l = line.strip();
        if (l.isEmpty() || l.startsWith("#")) {
          continue;
        }
        String[] words = l.split("\\s+", 2);
        units.put(words[0], words[1].replaceAll("\\s+", " "));
      }
      return units;
    } catch (IOException e) {
      throw new UncheckedIOException("read " + LIST, e);
    }
  }
}
