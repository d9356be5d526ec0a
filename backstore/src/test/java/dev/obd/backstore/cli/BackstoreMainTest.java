package dev.obd.backstore.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BackstoreMainTest {
  @TempDir Path dir;

  @Test
  void aLogLevelFlagThatIsNoneExitsWithCode2NamingTheLevels() throws Exception {
    Path config = dir.resolve("backstore.json");
    Files.writeString(config, "{}");
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    int exit;
    try {
      System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
      exit =
          new CommandLine(new BackstoreMain())
              .execute("--config", config.toString(), "--log-level", "loud");
    } finally {
      System.setErr(err);
    }
    assertThat(exit).isEqualTo(BackstoreMain.EXIT_CONFIG);
    assertThat(captured.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "obd-backstore: flag --log-level: must be one of debug, error, fatal, info, panic,"
                + " trace, warn, warning (got \"loud\")"
                + System.lineSeparator());
  }
}
