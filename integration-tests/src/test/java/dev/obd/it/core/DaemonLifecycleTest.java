package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageResponse;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * How the daemon starts, reads its configuration, tells systemd it is ready and stops, as an
 * operator (and systemd) sees it.
 */
class DaemonLifecycleTest {
  private Path base;

  @BeforeEach
  void setUp() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-lifecycle-");
  }

  @AfterEach
  void tearDown() throws IOException {
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  @Test
  void theSocketIsMode0660InADirectoryCreated0700() throws IOException {
    Path socket = base.resolve("run/nested/obd.sock");
    try (SnapshotterDaemon d = SnapshotterDaemon.start(base.resolve("root"), socket)) {
      assertThat(mode(socket)).isEqualTo("rw-rw----");
      assertThat(mode(socket.getParent())).isEqualTo("rwx------");
      assertThat(mode(base.resolve("root"))).isEqualTo("rwx------");
      assertThat(mode(base.resolve("root/snapshots"))).isEqualTo("rwx------");
    }
  }

  @Test
  void aStaleSocketFileIsReplacedButALiveOneIsNotStolen() throws IOException {
    Path socket = base.resolve("obd.sock");
    try (ServerSocketChannel stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      stale.bind(UnixDomainSocketAddress.of(socket));
    } // closed without unlinking: a stale socket file remains
    assertThat(socket).exists();
    try (SnapshotterDaemon d = SnapshotterDaemon.start(base.resolve("root"), socket)) {
      d.client().prepare("works", "");
      SnapshotterDaemon thief = SnapshotterDaemon.launch(base.resolve("root2"), socket, Map.of());
      assertThat(thief.process().awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(1);
      assertThat(thief.logTail(30)).contains("is in use");
      assertThat(d.client().stat("works").getName()).isEqualTo("works");
    }
  }

  @ParameterizedTest
  @CsvSource({"TERM", "INT"})
  void aStopSignalEndsTheDaemonWithExitZeroAndRemovesTheSocket(String signal) {
    Path socket = base.resolve("obd.sock");
    SnapshotterDaemon d = SnapshotterDaemon.start(base.resolve("root"), socket);
    d.client().prepare("before-stop", "");
    d.process().signal(signal);
    assertThat(d.process().awaitExit(Duration.ofSeconds(30))).isZero();
    assertThat(socket).doesNotExist();
    assertThat(d.logTail(10)).contains("stopped");
    d.close();
  }

  @Test
  void callsInFlightAtSigtermFinishBeforeTheDaemonExits() throws Exception {
    Path socket = base.resolve("obd.sock");
    try (SnapshotterDaemon d = SnapshotterDaemon.start(base.resolve("root"), socket)) {
      SnapshotsClient client = d.client();
      String upper = client.prepare("busy", "").get(0).getSource();
      for (int i = 0; i < 200; i++) {
        Path dir = Files.createDirectories(Path.of(upper, "d" + i));
        for (int j = 0; j < 250; j++) {
          Files.createFile(dir.resolve("f" + j));
        }
      }
      ListenableFuture<UsageResponse> usage =
          SnapshotsGrpc.newFutureStub(client.channel())
              .withDeadlineAfter(60, TimeUnit.SECONDS)
              .usage(UsageRequest.newBuilder().setKey("busy").build());
      Thread.sleep(30);
      d.process().signal("TERM");
      assertThat(usage.get(60, TimeUnit.SECONDS).getInodes()).isEqualTo(1 + 200 + 200 * 250);
      assertThat(d.process().awaitExit(Duration.ofSeconds(30))).isZero();
      String log = Files.readString(d.process().log());
      assertThat(log.indexOf("stop requested"))
          .as("the Usage call was still running when the stop was requested")
          .isLessThan(log.indexOf("Usage key=\"busy\""));
    }
  }

  @Test
  void systemdIsToldReadyOnceServingThroughAPathSocket() throws IOException {
    Path notify = base.resolve("notify.sock");
    try (UnixDatagramChannel ch = UnixDatagramChannel.open()) {
      ch.bind(new UnixSocketAddress(notify.toFile()));
      assertReadyReceived(ch, notify.toString());
    }
  }

  @Test
  void systemdIsToldReadyOnceServingThroughAnAbstractSocket() throws IOException {
    String name = "obd-test-notify-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    try (UnixDatagramChannel ch = UnixDatagramChannel.open()) {
      ch.bind(new UnixSocketAddress("\0" + name));
      assertReadyReceived(ch, "@" + name);
    }
  }

  private void assertReadyReceived(UnixDatagramChannel ch, String notifySocket) throws IOException {
    Path socket = base.resolve("obd.sock");
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(
            base.resolve("root"), socket, Map.of("NOTIFY_SOCKET", notifySocket))) {
      ByteBuffer buf = ByteBuffer.allocate(256);
      ch.configureBlocking(true);
      ch.socket().setSoTimeout(30_000);
      ch.receive(buf);
      buf.flip();
      assertThat(StandardCharsets.UTF_8.decode(buf).toString()).isEqualTo("READY=1");
      assertThat(SnapshotterDaemon.accepts(socket)).as("serving when READY=1 arrives").isTrue();
    }
  }

  @Test
  void aConfigWrittenForUpstreamStartsItUnchanged() throws IOException {
    Path root = base.resolve("root");
    Path socket = base.resolve("obd.sock");
    Path config = base.resolve("config.json");
    Files.writeString(
        config,
        """
        {
          "root": "%s",
          "address": "%s",
          "verbose": "info",
          "rwMode": "overlayfs",
          "logReportCaller": false,
          "autoRemoveDev": false,
          "mirrorRegistry": [],
          "runtimeType": "containerd"
        }
        """
            .formatted(root, socket));
    // upstream takes the config path as its only argument
    ChildProcess p = SnapshotterDaemon.launchRaw(base, Map.of(), List.of(config.toString()));
    try (p) {
      p.awaitCondition("socket", SnapshotterDaemon.READY_DEADLINE, () -> Files.exists(socket));
      try (SnapshotsClient c = SnapshotsClient.connect(socket)) {
        c.prepare("from-upstream-config", "");
      }
      assertThat(p.logTail(20)).contains("config " + config).doesNotContain("unknown key");
      assertThat(root.resolve("snapshots")).isDirectory();
      assertThat(p.terminate(Duration.ofSeconds(30))).isZero();
    }
  }

  @Test
  void flagsOverrideTheConfigAndUnknownKeysOnlyWarn() throws IOException {
    Path config = base.resolve("config.json");
    Files.writeString(
        config,
        """
        {"root": "/nonexistent/should/be/overridden", "address": "/nonexistent/x.sock",
         "futureKey": 1, "exporterConfig": {"enable": false, "extra": true}}
        """);
    Path socket = base.resolve("flag.sock");
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(base.resolve("flag-root"), socket, "--config", config.toString())) {
      d.client().prepare("k", "");
      assertThat(base.resolve("flag-root/snapshots")).isDirectory();
      assertThat(d.logTail(50))
          .contains("unknown key \"futureKey\"")
          .contains("unknown key \"exporterConfig.extra\"");
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"rwMode\": \"fast\"}|\"rwMode\"",
        "{\"asyncRemove\": \"yes\"}|\"asyncRemove\"",
        "{\"exporterConfig\": {\"port\": 70000}}|\"exporterConfig.port\"",
        "{\"address\": \"relative.sock\"}|\"address\"",
        "{\"verbose\": \"loud\"}|\"verbose\"",
        "{\"tenant\": -5}|\"tenant\"",
        "{\"mirrorRegistry\": [{\"insecure\": true}]}|\"mirrorRegistry[0].host\"",
        "{\"root\": 42}|\"root\"",
        "{\"rootfsQuota\": \"lots\"}|\"rootfsQuota\"",
        "{\"root\": \"/x\",|not valid JSON",
      })
  void aBadValueStopsTheStartWithOneLineNamingTheKey(String json, String named) throws IOException {
    Path config = base.resolve("bad.json");
    Files.writeString(config, json);
    ChildProcess p =
        SnapshotterDaemon.launchRaw(base, Map.of(), List.of("--config", config.toString()));
    try (p) {
      assertThat(p.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(2);
      List<String> lines = Files.readAllLines(p.log());
      assertThat(lines).hasSize(1);
      assertThat(lines.get(0)).startsWith("obd-snapshotter: config " + config).contains(named);
    }
  }

  @Test
  void aMissingExplicitConfigOrABadFlagIsAnErrorNotADefault() throws IOException {
    ChildProcess missing =
        SnapshotterDaemon.launchRaw(
            base, Map.of(), List.of("--config", base.resolve("absent.json").toString()));
    try (missing) {
      assertThat(missing.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(2);
      assertThat(Files.readString(missing.log())).contains("does not exist");
    }
    ChildProcess badLevel =
        SnapshotterDaemon.launchRaw(
            base,
            Map.of(),
            List.of("--root", base.resolve("r").toString(), "--log-level", "chatty"));
    try (badLevel) {
      assertThat(badLevel.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(2);
      assertThat(Files.readString(badLevel.log())).contains("--log-level");
    }
  }

  @Test
  void helpDocumentsTheFlags() throws IOException {
    ChildProcess p = SnapshotterDaemon.launchRaw(base, Map.of(), List.of("--help"));
    try (p) {
      assertThat(p.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isZero();
      assertThat(Files.readString(p.log()))
          .contains("--config", "--root", "--address", "--log-level", "Exit codes")
          .contains("/etc/overlaybd-snapshotter/config.json")
          .doesNotContain("null");
    }
  }

  @Test
  void versionNamesTheRelease() throws IOException {
    ChildProcess p = SnapshotterDaemon.launchRaw(base, Map.of(), List.of("--version"));
    try (p) {
      assertThat(p.awaitExit(SnapshotterDaemon.READY_DEADLINE)).isZero();
      assertThat(Files.readString(p.log()).strip()).matches("\\d+\\.\\d+\\.\\d+(-SNAPSHOT)?");
    }
  }

  @Test
  void snapshotsSurviveARestartAndAsyncRemoveWaitsForCleanup() throws IOException {
    Path root = base.resolve("root");
    Path socket = base.resolve("obd.sock");
    Path config = base.resolve("config.json");
    Files.writeString(config, "{\"asyncRemove\": true}");
    String dir;
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(root, socket, "--config", config.toString())) {
      dir = d.client().prepare("kept", "").get(0).getSource();
      Files.writeString(Path.of(dir, "data"), "survives");
      d.client().commit("kept-c", "kept");
      d.client().prepare("doomed", "");
      assertThat(d.stop()).isZero();
    }
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(root, socket, "--config", config.toString())) {
      assertThat(d.client().stat("kept-c").getKind().name()).isEqualTo("COMMITTED");
      String doomedDir = d.client().mounts("doomed").get(0).getSource();
      d.client().remove("doomed");
      assertThat(Path.of(doomedDir)).as("asyncRemove keeps it until Cleanup").exists();
      d.client().cleanup();
      assertThat(Path.of(doomedDir)).doesNotExist();
      assertThat(Path.of(dir, "data")).hasContent("survives");
    }
  }

  @Test
  void theWarmUpBeforeServingLeavesTheRealRootAsItWas() throws IOException {
    Path root = base.resolve("root");
    Path socket = base.resolve("obd.sock");
    long firstId;
    try (SnapshotterDaemon d = SnapshotterDaemon.start(root, socket)) {
      firstId = idOf(d.client().prepare("before", "").get(0).getSource());
      assertThat(d.stop()).isZero();
    }
    List<String> before = listing(root.resolve("snapshots"));
    try (SnapshotterDaemon d = SnapshotterDaemon.start(root, socket)) {
      assertThat(listing(root.resolve("snapshots")))
          .as("no directory of the warm-up's snapshots")
          .isEqualTo(before);
      assertThat(d.client().list()).extracting(i -> i.getName()).containsExactly("before");
      assertThat(idOf(d.client().prepare("after", "").get(0).getSource()))
          .as("the warm-up took no ids from the real metadata")
          .isEqualTo(firstId + 1);
      assertThat(warmUpRoots()).as("the warm-up's scratch root is gone once serving").isEmpty();
    }
  }

  @Test
  void aWarmUpRootLeftByAKilledDaemonIsDeletedAtTheNextStart() throws IOException {
    // a pid above the kernel's limit: no process has it
    Path abandoned = Path.of("/dev/shm/obd-snapshotter-warm-up-4194305");
    Files.createDirectories(abandoned.resolve("snapshots/1/fs"));
    Files.writeString(abandoned.resolve("metadata.sqlite"), "left behind");
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(base.resolve("root"), base.resolve("s.sock"))) {
      assertThat(abandoned).doesNotExist();
    } finally {
      Layers.deleteTree(abandoned);
    }
  }

  private static long idOf(String upperDir) {
    // <root>/snapshots/<id>/fs
    return Long.parseLong(Path.of(upperDir).getParent().getFileName().toString());
  }

  private static List<String> listing(Path dir) throws IOException {
    try (var files = Files.walk(dir)) {
      return files.map(p -> dir.relativize(p).toString()).sorted().toList();
    }
  }

  private static List<Path> warmUpRoots() throws IOException {
    try (var files = Files.list(Path.of("/dev/shm"))) {
      return files
          .filter(p -> p.getFileName().toString().startsWith("obd-snapshotter-warm-up-"))
          .toList();
    }
  }

  private static String mode(Path p) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
  }
}
