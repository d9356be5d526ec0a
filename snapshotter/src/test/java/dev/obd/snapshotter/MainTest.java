package dev.obd.snapshotter;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The command line: what is refused before anything starts, and what --help and -V print. */
class MainTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) throws InterruptedException {
    return Main.run(
        args,
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String err() {
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void helpListsEveryOptionAndTheExitCodes() throws InterruptedException {
    assertThat(run("--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8))
        .contains(
            "--config=FILE", "--root=DIR", "--address=SOCKET", "--log-level=LEVEL", "[CONFIG]")
        .contains("/etc/overlaybd-snapshotter/config.json", "Exit codes:")
        .doesNotContain("warm-up-rounds", "exit-when-ready");
    assertThat(err()).isEmpty();
  }

  @Test
  void shortFlagsCombine() throws InterruptedException {
    assertThat(run("-hV")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("Usage: obd-snapshotter");
  }

  @Test
  void anUnknownOptionIsRefusedWithExitCode2AndNamed() throws InterruptedException {
    assertThat(run("--roots", "/tmp/x")).isEqualTo(2);
    assertThat(err()).contains("--roots").contains("--help");
    assertThat(out.toString(StandardCharsets.UTF_8)).isEmpty();
  }

  @Test
  void anOptionWithoutItsValueIsRefused() throws InterruptedException {
    assertThat(run("--config")).isEqualTo(2);
    assertThat(err()).contains("config");
  }

  @Test
  void aSecondConfigFileIsRefused() throws InterruptedException {
    assertThat(run("/etc/a.json", "/etc/b.json")).isEqualTo(2);
    assertThat(err()).contains("/etc/b.json");
  }

  @Test
  void warmUpRoundsMustBeACount() throws InterruptedException {
    assertThat(run("--warm-up-rounds", "-1")).isEqualTo(2);
    assertThat(run("--warm-up-rounds=many")).isEqualTo(2);
    assertThat(err()).contains("--warm-up-rounds");
  }
}
