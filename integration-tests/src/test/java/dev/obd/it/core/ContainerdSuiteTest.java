package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.UnpackedPackages;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * containerd's own snapshotter conformance suite ({@code snapshots/testsuite}) run against the
 * daemon through containerd's proxy client, each sub-test with a fresh daemon: containerd 1.7's
 * (trixie's package and the Go sources it imports, built with Go 1.23 from bookworm-backports; both
 * unpacked by test-support/fetch-debian-packages). 1.7's suite renames a directory of a lower
 * layer, unless the snapshotter it is told it tests is overlayfs. This is the check an independent
 * reviewer runs. (1.6's suite, which bookworm packages, ran here too; 1.6 is out of support and its
 * suite is a subset of 1.7's, so it was dropped to keep the whole run within its time.)
 */
class ContainerdSuiteTest {

  @Test
  void containerd17sSnapshotterSuitePassesThroughTheProxyClient() throws Exception {
    Requirements.requireRoot();
    Path goRoot = UnpackedPackages.require("go-1.23").resolve("usr/lib/go-1.23");
    Path sources = UnpackedPackages.require("containerd-suite-1.7.24").resolve("usr/share/gocode");
    String output =
        runSuite(
            "1.7",
            goRoot.resolve("bin/go").toString(),
            // GOTOOLCHAIN=local: use this Go, never one a go.mod would ask to download
            Map.of("GOROOT", goRoot.toString(), "GOTOOLCHAIN", "local"),
            sources);
    assertThat(output).as("no sub-test skipped").doesNotContain("--- SKIP");
    assertPassed(output, 21);
  }

  /** Builds the suite against {@code sources} (a GOPATH root) and runs it; returns its output. */
  private static String runSuite(
      String version, String go, Map<String, String> toolchain, Path sources)
      throws IOException, InterruptedException {
    Path build = Path.of(System.getProperty("obd.buildDir"), "go-suite-" + version);
    Path pkg = Files.createDirectories(build.resolve("gopath/src/obdconformance"));
    Files.copy(
        Path.of(System.getProperty("obd.goSuiteDir"), "conformance/conformance_test.go"),
        pkg.resolve("conformance_test.go"),
        StandardCopyOption.REPLACE_EXISTING);
    Path binary = build.resolve("obd-conformance.test");
    Map<String, String> goEnv = new HashMap<>(toolchain);
    goEnv.putAll(
        Map.of(
            "GOPATH",
            build.resolve("gopath") + ":" + sources,
            "GO111MODULE",
            "off",
            "GOFLAGS",
            "",
            // kept between runs: the Debian sources do not change, so their build need not either
            "GOCACHE",
            UnpackedPackages.cacheDir().resolve("gocache").toString()));
    run(List.of(go, "test", "-c", "-o", binary.toString(), "."), pkg, goEnv, 600);

    List<String> java = SnapshotterDaemon.javaCommand();
    return run(
        List.of(binary.toString(), "-test.v", "-test.parallel", "4", "-test.timeout", "15m"),
        build,
        Map.of("OBD_JAVA", java.get(0), "OBD_CLASSPATH", SnapshotterDaemon.daemonClasspath()),
        900);
  }

  private static void assertPassed(String output, int atLeast) {
    long passed =
        Pattern.compile("(?m)^\\s*--- PASS: TestObdSnapshotterConformance/")
            .matcher(output)
            .results()
            .count();
    assertThat(output).doesNotContain("--- FAIL");
    assertThat(passed).as("sub-tests passed:\n" + output).isGreaterThanOrEqualTo(atLeast);
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
