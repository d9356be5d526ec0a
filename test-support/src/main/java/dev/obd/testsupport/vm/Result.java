package dev.obd.testsupport.vm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a {@link QemuVm} run left behind: qemu's exit code, how long it took, the out share and the
 * serial console's log.
 *
 * @param out the host directory the guest saw as {@code /mnt/obd-out}
 */
public record Result(int exitCode, Duration took, Path out, Path serialLog) {

  /**
   * The guest's {@code result.txt}: key to value, from lines {@code <seconds> <key> <value...>}; a
   * key written twice keeps its last value. Empty if the guest wrote nothing.
   */
  public Map<String, String> results() {
    Map<String, String> r = new LinkedHashMap<>();
    Path file = out.resolve("result.txt");
    if (!Files.exists(file)) {
      return r;
    }
    try {
      for (String line : Files.readAllLines(file)) {
        String[] f = line.split(" ", 3);
        if (f.length >= 2) {
          r.put(f[1], f.length == 3 ? f[2].trim() : "");
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("read " + file, e);
    }
    return r;
  }

  /** The guest's {@code result.txt} as written, with its timestamps: for a test's output. */
  public String timeline() {
    return tail(out.resolve("result.txt"), Integer.MAX_VALUE);
  }

  /**
   * A text for assertion messages: exit code, time, results, the serial console's tail, the guest
   * script's output and the tails of the named files in the out share.
   */
  public String diagnostics(String... outFiles) {
    StringBuilder b =
        new StringBuilder()
            .append("qemu rc ")
            .append(exitCode)
            .append(" after ")
            .append(took.toSeconds())
            .append(" s; results ")
            .append(results())
            .append("\nserial:\n")
            .append(tail(serialLog, 30))
            .append("\nguest.log:\n")
            .append(tail(out.resolve("guest.log"), 25));
    for (String f : outFiles) {
      b.append('\n').append(f).append(":\n").append(tail(out.resolve(f), 25));
    }
    return b.toString();
  }

  /** The last {@code lines} lines of {@code file}, or "(none)" if it does not exist. */
  static String tail(Path file, int lines) {
    if (!Files.exists(file)) {
      return "(none)";
    }
    try {
      // decoded leniently: serial consoles and guest logs may hold stray bytes
      List<String> l =
          List.of(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).split("\n"));
      return String.join("\n", l.subList(Math.max(0, l.size() - lines), l.size()));
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }
}
