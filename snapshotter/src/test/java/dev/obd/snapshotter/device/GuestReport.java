package dev.obd.snapshotter.device;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * What the guest half of {@link TcmuVmTest} saw, for the host half to assert: lines {@code <seconds
 * since boot> <key> <value>} appended to {@code result.txt} in the out share, one line per value
 * (see {@link dev.obd.testsupport.vm.Result}). Thread-safe.
 */
record GuestReport(Path file) {

  synchronized void put(String key, String value) throws IOException {
    String uptime = Files.readString(Path.of("/proc/uptime")).split(" ")[0];
    String line = uptime + " " + key + " " + value.strip().replace('\n', '|') + "\n";
    Files.writeString(file, line, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  /** Reports {@code failure} under {@code <phase>-error}, with its stack trace in one line. */
  void failed(String phase, Throwable failure) throws IOException {
    StringWriter trace = new StringWriter();
    failure.printStackTrace(new PrintWriter(trace));
    put(phase + "-error", trace.toString().replace('\t', ' '));
  }
}
