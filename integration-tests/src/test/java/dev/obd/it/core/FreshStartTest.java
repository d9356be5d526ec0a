package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.grpc.Http2Preface;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What containerd 1.7 and 2.x see when the snapshotter has just (re)started on a busy node. They
 * dial a proxy plugin lazily, at the first call, with only a backoff configured, so grpc-go gives
 * the connection, HTTP/2 server preface included, about one second (its first backoff delay); a
 * slower preface fails the call with "error reading server preface". The budget is the behaviour
 * asserted here. Until the test matrix has containerd 1.7 and 2.x, a raw HTTP/2 client stands in
 * for grpc-go's dial: it connects as soon as the socket appears and times the server's preface,
 * then a real gRPC client makes the first calls.
 *
 * <p>The daemon is started through the shipped launcher with its start-up archive made first (as
 * the install leaves it), thirty times, each on a fresh root, while busy loops keep both cores of
 * the machine loaded on top of whatever else runs.
 */
class FreshStartTest {
  private static final int STARTS = 30;
  private static final Duration GRPC_GO_CONNECT_BUDGET = Duration.ofSeconds(1);
  private static final int LOAD_PROCESSES = 2;

  private Path base;
  private final List<Process> load = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-fresh-start-");
  }

  @AfterEach
  void tearDown() throws Exception {
    for (Process p : load) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  @Test
  void everyFreshStartUnderLoadAnswersItsFirstConnectionWithinGrpcGosBudgetAndItsFirstCalls()
      throws Exception {
    Path launcher = Path.of(System.getProperty("obd.distDir"), "bin", "obd-snapshotter");
    Requirements.require(Files.isExecutable(launcher), "needs the built distribution " + launcher);
    Containerd.Result archive =
        Containerd.run(
            List.of("env", "OBD_ARCHIVE=make", launcher.toString()), Duration.ofMinutes(5));
    assertThat(archive.exit()).as("making the start-up archive: " + archive.output()).isZero();
    for (int i = 0; i < LOAD_PROCESSES; i++) {
      load.add(new ProcessBuilder("sh", "-c", "while :; do :; done").start());
    }

    List<Long> prefaceMillis = new ArrayList<>();
    for (int i = 0; i < STARTS; i++) {
      Path dir = Files.createDirectories(base.resolve("start-" + i));
      Path socket = dir.resolve("obd.sock");
      ChildProcess daemon =
          ChildProcess.start(
              "obd-snapshotter",
              List.of(
                  launcher.toString(),
                  "--root",
                  dir.resolve("root").toString(),
                  "--address",
                  socket.toString()),
              dir.resolve("daemon.log"),
              Map.of());
      try (daemon) {
        daemon.awaitCondition(
            "socket " + socket, Duration.ofMinutes(2), () -> Files.exists(socket));
        long preface = Http2Preface.exchange(socket, System.nanoTime());
        prefaceMillis.add(TimeUnit.NANOSECONDS.toMillis(preface));
        assertThat(Duration.ofNanos(preface))
            .as(
                "start %d: server preface after the socket appeared (all so far: %s ms)",
                i, prefaceMillis)
            .isLessThan(GRPC_GO_CONNECT_BUDGET);
        try (SnapshotsClient c = SnapshotsClient.connect(socket)) {
          c.prepare("first", "");
          c.commit("first-c", "first");
          assertThat(c.stat("first-c").getName()).isEqualTo("first-c");
          assertThat(c.list()).hasSize(1);
        }
        assertThat(daemon.terminate(Duration.ofSeconds(30))).isZero();
      }
    }
    System.out.println("server preface after the socket appeared, ms: " + prefaceMillis);
  }
}
