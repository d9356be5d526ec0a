package dev.obd.bench.snapshotter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What /proc says about a daemon process under measurement. */
final class ProcFs {
  private ProcFs() {}

  /** Resident set size of {@code process}, in KiB. */
  static long rssKiB(Process process, String name) throws IOException {
    for (String line :
        Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("\\D", ""));
      }
    }
    throw new IOException("no VmRSS for " + name);
  }

  /**
   * CPU time {@code process} has used so far (user + system, all threads), in nanoseconds; from
   * /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
   */
  static long cpuNanos(Process process) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(process.pid()), "stat"));
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime: fields 14 and 15
    return ticks * 10_000_000L;
  }
}
