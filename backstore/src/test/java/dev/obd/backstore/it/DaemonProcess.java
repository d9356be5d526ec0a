package dev.obd.backstore.it;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.testsupport.ChildProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * obd-backstore as a separate JVM, as systemd runs it, so that a test can kill -9 it and start it
 * again. Uses the module's compiled classes and target/classpath.txt.
 */
final class DaemonProcess {
  private DaemonProcess() {}

  static ChildProcess start(Path daemonDir, Path config, String logName) throws IOException {
    ChildProcess p = launch(daemonDir, config, logName, Map.of());
    Path socket = daemonDir.resolve("run/backstore.sock");
    p.awaitCondition(
        "control API answers", Duration.ofSeconds(60), () -> BackstoreClient.answers(socket));
    return p;
  }

  /** Starts the daemon with {@code env} added and returns at once, without waiting for it. */
  static ChildProcess launch(Path daemonDir, Path config, String logName, Map<String, String> env)
      throws IOException {
    Path target = Path.of("target").toAbsolutePath();
    String cp =
        target.resolve("classes") + ":" + Files.readString(target.resolve("classpath.txt")).trim();
    Files.createDirectories(daemonDir);
    return ChildProcess.start(
        "obd-backstore",
        List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            // lz4-java unpacks its native library there; a kill -9 must not leave it in /tmp
            "-Djava.io.tmpdir=" + Files.createDirectories(daemonDir.resolve("tmp")),
            "-cp",
            cp,
            "dev.obd.backstore.cli.BackstoreMain",
            "--config",
            config.toString()),
        daemonDir.resolve(logName),
        env);
  }
}
