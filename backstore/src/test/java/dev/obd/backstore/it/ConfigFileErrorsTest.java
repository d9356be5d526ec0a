package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The obd-backstore command given a config file it cannot use: it exits 2 at once with one line
 * naming the file and the problem, as obd-snapshotter does, instead of hanging on a FIFO or dying
 * of a stack trace.
 */
class ConfigFileErrorsTest {
  @TempDir Path dir;

  @Test
  void aFifoAsConfigExitsWithCode2AndOneLineInsteadOfHanging() throws Exception {
    Path fifo = dir.resolve("backstore.json");
    Mounts.run(List.of("mkfifo", fifo.toString()), null);
    assertExitsWithOneLine(
        fifo, "obd-backstore: backstore config " + fifo + ": not a regular file but a FIFO");
  }

  @Test
  void jsonNestedFiveThousandLevelsDeepExitsWithCode2AndOneLine() throws Exception {
    Path deep = dir.resolve("deep.json");
    Files.writeString(deep, "{\"timeouts\":" + "[".repeat(5000) + "]".repeat(5000) + "}");
    assertExitsWithOneLine(
        deep, "obd-backstore: backstore config " + deep + ": JSON nested deeper than 64 levels");
  }

  private void assertExitsWithOneLine(Path config, String line) throws Exception {
    Path daemonDir = dir.resolve("d");
    try (ChildProcess p = DaemonProcess.launch(daemonDir, config, "daemon.log", Map.of())) {
      assertThat(p.awaitExit(Duration.ofSeconds(60))).as(p.logTail(20)).isEqualTo(2);
      assertThat(Files.readAllLines(p.log())).containsExactly(line);
    }
  }
}
