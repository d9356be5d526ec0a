package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Configuration files no operator means to give, as the daemon's start meets them: each ends the
 * start promptly with exit code 2 and one line naming the file and the problem, where a FIFO hung
 * the start for good, 50 MB of JSON exhausted the heap and deep nesting died with a
 * NullPointerException stack trace.
 */
class HostileConfigTest {
  private Path base;

  @BeforeEach
  void setUp() throws IOException {
    base = Files.createTempDirectory("obd-config-");
  }

  @AfterEach
  void tearDown() throws IOException {
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  /** Creates the config file of {@code kind} and returns the problem its start must report. */
  private String create(String kind, Path file) throws IOException {
    switch (kind) {
      case "fifo" -> {
        Mounts.run(List.of("mkfifo", file.toString()), null);
        return "not a regular file but a FIFO";
      }
      case "directory" -> {
        Files.createDirectory(file);
        return "not a regular file but a directory";
      }
      case "50MB" -> {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
          f.setLength(50L << 20);
        }
        return "52428800 bytes, larger than the 1048576 bytes a configuration file may have";
      }
      case "nested" -> {
        Files.writeString(file, "{\"root\": " + "[".repeat(5000) + "]".repeat(5000) + "}");
        return "JSON nested deeper than 32 levels";
      }
      default -> throw new IllegalArgumentException(kind);
    }
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"fifo", "directory", "50MB", "nested"})
  void aHostileConfigEndsTheStartWithOneLineNamingTheFile(String kind) throws IOException {
    Path config = base.resolve("config.json");
    String problem = create(kind, config);
    ChildProcess p =
        SnapshotterDaemon.launchRaw(
            base,
            Map.of(),
            List.of("--root", base.resolve("root").toString(), "--config", config.toString()));
    try (p) {
      assertThat(p.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(2);
      List<String> lines = Files.readAllLines(p.log());
      assertThat(lines).hasSize(1);
      assertThat(lines.get(0)).isEqualTo("obd-snapshotter: config " + config + ": " + problem);
    }
  }
}
