package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * containerd's own snapshotter conformance suite ({@code snapshots/testsuite}, Debian package
 * golang-github-containerd-containerd-dev) run against the daemon through containerd's proxy
 * client, each sub-test with a fresh daemon. This is the check an independent reviewer runs.
 */
class ContainerdSuiteTest {
  private static final Path SUITE =
      Path.of("/usr/share/gocode/src/github.com/containerd/containerd/snapshots/testsuite");

  @Test
  void containerdsSnapshotterSuitePassesThroughTheProxyClient() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("go");
    Requirements.require(
        Files.isDirectory(SUITE),
        "needs containerd's test suite sources (golang-github-containerd-containerd-dev)");

    Path build = Path.of(System.getProperty("obd.buildDir"), "go-suite");
    Path pkg = Files.createDirectories(build.resolve("gopath/src/obdconformance"));
    Files.copy(
        Path.of(System.getProperty("obd.goSuiteDir"), "conformance/conformance_test.go"),
        pkg.resolve("conformance_test.go"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Path binary = build.resolve("obd-conformance.test");
    Map<String, String> goEnv =
        Map.of(
            "GOPATH",
            build.resolve("gopath") + ":/usr/share/gocode",
            "GO111MODULE",
            "off",
            "GOFLAGS",
            "",
            "GOCACHE",
            build.resolve("gocache").toString());
    run(List.of("go", "test", "-c", "-o", binary.toString(), "."), pkg, goEnv, 600);

    List<String> java = SnapshotterDaemon.javaCommand();
    String output =
        run(
            List.of(binary.toString(), "-test.v", "-test.parallel", "4", "-test.timeout", "15m"),
            build,
            Map.of("OBD_JAVA", java.get(0), "OBD_CLASSPATH", SnapshotterDaemon.daemonClasspath()),
            900);
    Matcher passes =
        Pattern.compile("(?m)^\\s*--- PASS: TestObdSnapshotterConformance/").matcher(output);
    long passed = passes.results().count();
    assertThat(output).doesNotContain("--- FAIL");
    assertThat(passed).as("sub-tests passed:\n" + output).isGreaterThanOrEqualTo(20);
  }

  private static String run(
      List<String> cmd, Path dir, Map<String, String> env, long timeoutSeconds)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
    pb.environment().putAll(env);
    Path log = Files.createTempFile(dir, "run-", ".log");
    pb.redirectOutput(log.toFile());
    Process p = pb.start();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
      throw new AssertionError(
          cmd + " did not finish in " + timeoutSeconds + " s:\n" + Files.readString(log));
    }
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertThat(p.exitValue()).as(cmd + " exit code; output:\n" + out).isZero();
    return out;
  }
}
