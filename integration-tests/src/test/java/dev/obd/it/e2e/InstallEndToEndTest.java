package dev.obd.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.ContainerdInstallation;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a node-provisioning script does: install the built distribution with daemon-config/install
 * into a fresh root, run it again, check the unit with systemd, then start the installed daemon and
 * a containerd configured by what was installed, and pull and run. Both config forms: version 2 for
 * bookworm's containerd 1.6, version 3 with the transfer service settings for containerd 2.1.9
 * (unpacked by test-support/fetch-debian-packages).
 */
class InstallEndToEndTest {
  private Path base;
  private Path dist;

  @BeforeEach
  void setUp() throws IOException {
    Requirements.requireRoot();
    dist = Path.of(System.getProperty("obd.distDir"));
    Requirements.require(
        Files.isExecutable(dist.resolve("bin/obd-snapshotter")),
        "needs the built distribution " + dist);
    base = Files.createTempDirectory("obd-install-");
  }

  @AfterEach
  void tearDown() throws IOException {
    if (base != null) {
      Containerd.unmountBelow(base);
      Layers.deleteTree(base);
    }
  }

  private Containerd.Result install(Path prefix, String... args) {
    List<String> cmd =
        new java.util.ArrayList<>(
            List.of(
                dist.resolve("share/daemon-config/install").toString(),
                "--prefix",
                prefix.toString()));
    cmd.addAll(List.of(args));
    return Containerd.run(cmd, Duration.ofMinutes(2));
  }

  @Test
  void aDryRunChangesNothingAndTheSecondRunIsANoOp() throws IOException {
    Path prefix = base.resolve("node");
    Containerd.Result dry = install(prefix, "--dry-run", "--cri");
    assertThat(dry.exit()).isZero();
    assertThat(dry.output()).contains("would install " + prefix + "/opt/obd-snapshotter");
    assertThat(prefix).doesNotExist();

    Containerd.Result first = install(prefix, "--cri");
    assertThat(first.exit()).as(first.output()).isZero();
    assertThat(prefix.resolve("opt/obd-snapshotter/bin/obd-snapshotter")).isExecutable();
    assertThat(prefix.resolve("etc/overlaybd-snapshotter/config.json")).exists();
    assertThat(prefix.resolve("etc/systemd/system/obd-snapshotter.service")).exists();
    assertThat(Files.readString(prefix.resolve("etc/containerd/config.toml")))
        .as("containerd 1.6 reads config version 2")
        .startsWith("version = 2\n")
        .contains("[proxy_plugins.overlaybd]")
        .contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd]")
        .contains("disable_snapshot_annotations = false")
        .doesNotContain("io.containerd.transfer.v1.local");

    Containerd.Result second = install(prefix, "--cri");
    assertThat(second.exit()).isZero();
    assertThat(second.output())
        .contains("nothing to do")
        .doesNotContain("install ")
        .doesNotContain("create ");
  }

  @Test
  void forContainerd2TheConfigIsVersion3WithTheTransferServiceSettingsAndASecondRunIsANoOp()
      throws IOException {
    ContainerdInstallation two = ContainerdInstallation.unpacked("2.1.9");
    Path prefix = base.resolve("node");
    Containerd.Result first = install(prefix, "--cri", "--containerd", two.containerd().toString());
    assertThat(first.exit()).as(first.output()).isZero();
    assertThat(Files.readString(prefix.resolve("etc/containerd/config.toml")))
        .startsWith("version = 3\n")
        .contains("[proxy_plugins.overlaybd]")
        .contains("[proxy_plugins.overlaybd.exports]")
        .contains("enable_remote_snapshot_annotations = \"true\"")
        .contains("[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]")
        .contains("snapshotter = \"overlayfs\"")
        .contains("[plugins.'io.containerd.cri.v1.images']")
        .doesNotContain("io.containerd.grpc.v1.cri")
        .as("nothing that sends CRI back to the local pull mode")
        .doesNotContainPattern("(?m)^\\s*disable_snapshot_annotations");

    Containerd.Result second =
        install(prefix, "--cri", "--containerd", two.containerd().toString());
    assertThat(second.exit()).as(second.output()).isZero();
    assertThat(second.output()).contains("nothing to do");
  }

  @Test
  void aVersion2ConfigIsLeftAsItIsForContainerd2WithTheWayToMigrateIt() throws IOException {
    ContainerdInstallation two = ContainerdInstallation.unpacked("2.1.9");
    Path prefix = base.resolve("node");
    Path conf = Files.createDirectories(prefix.resolve("etc/containerd")).resolve("config.toml");
    String own = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"x\"\n";
    Files.writeString(conf, own);
    Containerd.Result r = install(prefix, "--containerd", two.containerd().toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.output()).contains("NOT changed " + conf).contains("containerd config migrate");
    assertThat(Files.readString(conf)).isEqualTo(own);
  }

  @Test
  void helpPrintsTheUsageAndNothingOfTheScript() {
    Containerd.Result r =
        Containerd.run(
            List.of(dist.resolve("share/daemon-config/install").toString(), "--help"),
            Duration.ofMinutes(1));
    assertThat(r.exit()).isZero();
    assertThat(r.output()).contains("Usage: install").contains("--containerd BIN");
    assertThat(r.output().strip().lines().reduce((a, b) -> b).orElseThrow()).contains("--dry-run");
  }

  @Test
  void anEditedConfigIsNeverOverwritten() throws IOException {
    Path prefix = base.resolve("node");
    assertThat(install(prefix).exit()).isZero();
    Path config = prefix.resolve("etc/overlaybd-snapshotter/config.json");
    Files.writeString(config, "{\"verbose\": \"debug\"}\n");
    Containerd.Result again = install(prefix);
    assertThat(again.output()).contains("kept " + config);
    assertThat(Files.readString(config)).isEqualTo("{\"verbose\": \"debug\"}\n");
  }

  @Test
  void theCriImageProxyOptionTurnsTheProxyOnInAnUneditedConfigThatTheInstalledDaemonServes()
      throws Exception {
    Path prefix = base.resolve("node");
    Path config = prefix.resolve("etc/overlaybd-snapshotter/config.json");
    assertThat(install(prefix).exit()).isZero();
    Containerd.Result on = install(prefix, "--cri-image-proxy");
    assertThat(on.exit()).as(on.output()).isZero();
    assertThat(on.output())
        .contains("turn on the CRI image proxy in " + config)
        .contains(
            "kubelet: --image-service-endpoint=unix:///run/overlaybd-snapshotter/cri-image.sock");
    ObjectNode installed = (ObjectNode) new ObjectMapper().readTree(config.toFile());
    assertThat(installed.path("criImageService").path("enable").asBoolean()).isTrue();
    assertThat(install(prefix, "--cri-image-proxy").output()).contains("nothing to do");

    // the installed file, with the proxy's socket moved under the test's directory
    Path proxy = base.resolve("run/cri-image.sock");
    ((ObjectNode) installed.path("criImageService")).put("address", proxy.toString());
    Path testConfig = base.resolve("config-with-test-paths.json");
    new ObjectMapper().writeValue(testConfig.toFile(), installed);
    Path socket = base.resolve("run/obd.sock");
    try (ChildProcess daemon =
        ChildProcess.start(
            "installed obd-snapshotter with the CRI image proxy",
            List.of(
                prefix.resolve("opt/obd-snapshotter/bin/obd-snapshotter").toString(),
                "--config",
                testConfig.toString(),
                "--root",
                base.resolve("obd-root").toString(),
                "--address",
                socket.toString()),
            base.resolve("daemon.log"),
            Map.of("OBD_CDS_DIR", base.resolve("cds").toString()))) {
      daemon.awaitCondition(
          "the CRI image proxy's socket " + proxy,
          Duration.ofSeconds(90),
          () -> Files.exists(proxy) && Files.exists(socket));
      assertThat(Files.readString(base.resolve("daemon.log")))
          .as("the installed config is read without complaint")
          .doesNotContain("unknown")
          .doesNotContain("warn");
    }
  }

  @Test
  void anEditedConfigIsNotChangedByTheCriImageProxyOptionWhichSaysWhatToAdd() throws IOException {
    Path prefix = base.resolve("node");
    assertThat(install(prefix).exit()).isZero();
    Path config = prefix.resolve("etc/overlaybd-snapshotter/config.json");
    Files.writeString(config, "{\"verbose\": \"debug\"}\n");
    Containerd.Result again = install(prefix, "--cri-image-proxy");
    assertThat(again.output())
        .contains("kept " + config)
        .contains("add \"criImageService\": {\"enable\": true} by hand");
    assertThat(Files.readString(config)).isEqualTo("{\"verbose\": \"debug\"}\n");
  }

  @Test
  void theInstalledUnitsPassSystemdAnalyzeVerify() {
    Requirements.requireCommand("systemd-analyze");
    Path prefix = base.resolve("node");
    assertThat(install(prefix).exit()).isZero();
    List<String> units;
    try (Stream<Path> s = Files.list(prefix.resolve("etc/systemd/system"))) {
      units = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".service")).toList();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    assertThat(units).contains("obd-snapshotter.service");
    for (String unit : units) {
      Containerd.Result r =
          Containerd.run(
              List.of("systemd-analyze", "verify", "--root=" + prefix, unit),
              Duration.ofMinutes(1));
      assertThat(r.exit()).as(unit + ": " + r.output()).isZero();
      assertThat(r.output()).as(unit).doesNotContain("Unknown").doesNotContain("is not executable");
    }
  }

  @Test
  void containerdConfiguredByTheInstallRunsContainersOnTheInstalledDaemon() throws Exception {
    Path prefix = base.resolve("node");
    assertThat(install(prefix, "--cri").exit()).isZero();
    Path socket = base.resolve("run/obd.sock");
    Path ctrDir = base.resolve("containerd");
    String config =
        testPaths(
                Files.readString(prefix.resolve("etc/containerd/config.toml")),
                "version = 2\n",
                socket,
                ctrDir)
            + "\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \""
            + ctrDir
            + "/certs.d\"\n";
    try (LocalRegistry registry = LocalRegistry.start(base.resolve("registry"));
        ChildProcess daemon = startInstalledDaemon(prefix, socket);
        Containerd containerd =
            startWhenServing(
                ContainerdInstallation.system(), daemon, socket, ctrDir, config, registry.host())) {
      String ref =
          TestImages.small("unused", "installed and running")
              .push(
                  Files.createDirectories(base.resolve("img")),
                  registry.host(),
                  "obdtest/installed",
                  "v1");
      try (CriClient cri = new CriClient(containerd.socket())) {
        cri.pull(ref);
      }
      assertThat(
              containerd.runContainer(
                  "k8s.io", Containerd.SNAPSHOTTER, ref, "installed", "/bin/cat", "/data/id"))
          .isEqualTo("installed and running\n");
      // made in the background after the first start, which served without it
      daemon.awaitCondition(
          "the launcher's start-up archive in " + base.resolve("cds"),
          Duration.ofMinutes(5),
          () -> hasArchive(base.resolve("cds")));
    }
  }

  private static boolean hasArchive(Path dir) {
    try (var files = Files.list(dir)) {
      return files
          .map(p -> p.getFileName().toString())
          .anyMatch(n -> n.endsWith(".jsa") || n.endsWith(".aot"));
    } catch (java.nio.file.NoSuchFileException notYet) {
      return false;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("list " + dir, e);
    }
  }

  /**
   * containerd 2.1.9 on the configuration install wrote for it: CRI and {@code ctr images pull}
   * both go through the transfer service and pull an OverlayBD image lazily. (Running it needs
   * obd-backstore, which the matrix tests do; here the installed daemon runs on its defaults.)
   */
  @Test
  void containerd2ConfiguredByTheInstallPullsOverlayBdImagesLazily() throws Exception {
    ContainerdInstallation two = ContainerdInstallation.unpacked("2.1.9");
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    Path prefix = base.resolve("node");
    assertThat(install(prefix, "--cri", "--containerd", two.containerd().toString()).exit())
        .isZero();
    Path socket = base.resolve("run/obd.sock");
    Path ctrDir = base.resolve("containerd");
    String config =
        testPaths(
                Files.readString(prefix.resolve("etc/containerd/config.toml")),
                "version = 3\n",
                socket,
                ctrDir)
            + "\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = \""
            + ctrDir
            + "/certs.d\"\n";
    try (LocalRegistry registry = LocalRegistry.start(base.resolve("registry"));
        ChildProcess daemon = startInstalledDaemon(prefix, socket);
        Containerd containerd =
            startWhenServing(two, daemon, socket, ctrDir, config, registry.host())) {
      String ref = registry.host() + "/hello:amd64-converted";
      ObdImages.push(hello, "amd64-converted", ref);
      List<String> layers = ObdImages.layerDigests(hello, "amd64-converted");
      try (CriClient cri = new CriClient(containerd.socket())) {
        cri.pull(ref);
      }
      containerd.ctr(
          "transfer",
          "images",
          "pull",
          "--plain-http",
          "--snapshotter",
          Containerd.SNAPSHOTTER,
          ref);
      assertThat(
              Files.readAllLines(registry.log()).stream()
                  .filter(l -> l.contains("\"GET /v2/hello/blobs/" + layers.get(0))))
          .as("layer blob GETs of the CRI and the ctr pull")
          .isEmpty();
      assertThat(containerd.log())
          .as("CRI uses the transfer service")
          .doesNotContain("Falling back to local image pull mode");
      try (SnapshotsClient snapshots = SnapshotsClient.connect(socket)) {
        assertThat(
                snapshots.list(
                    "labels.\"containerd.io/snapshot/overlaybd/blob-digest\"==\""
                        + layers.get(0)
                        + "\""))
            .as("the layer is a remote snapshot")
            .singleElement()
            .satisfies(
                i ->
                    assertThat(i.getLabelsMap())
                        .containsEntry("containerd.io/snapshot/remote", "remote snapshot")
                        .containsEntry("containerd.io/snapshot/cri.image-ref", ref));
      }
    }
  }

  /**
   * The installed config.toml with the test's own paths: obd-snapshotter's socket, and containerd's
   * root, state and sockets (inserted after its {@code versionLine}).
   */
  private static String testPaths(String installed, String versionLine, Path socket, Path ctrDir) {
    return installed
        .replace("/run/overlaybd-snapshotter/overlaybd.sock", socket.toString())
        .replaceFirst(
            versionLine,
            versionLine
                + "root = \"%1$s/root\"\nstate = \"%1$s/state\"\n[grpc]\n  address = \"%1$s/containerd.sock\"\n[ttrpc]\n  address = \"%1$s/containerd.sock.ttrpc\"\n"
                    .formatted(ctrDir));
  }

  /** The installed launcher with the installed config.json, on a root and socket of the test's. */
  private ChildProcess startInstalledDaemon(Path prefix, Path socket) {
    return ChildProcess.start(
        "installed obd-snapshotter",
        List.of(
            prefix.resolve("opt/obd-snapshotter/bin/obd-snapshotter").toString(),
            "--config",
            prefix.resolve("etc/overlaybd-snapshotter/config.json").toString(),
            "--root",
            base.resolve("obd-root").toString(),
            "--address",
            socket.toString()),
        base.resolve("daemon.log"),
        Map.of("OBD_CDS_DIR", base.resolve("cds").toString()));
  }

  private static Containerd startWhenServing(
      ContainerdInstallation installation,
      ChildProcess daemon,
      Path socket,
      Path ctrDir,
      String config,
      String registryHost) {
    daemon.awaitCondition("socket " + socket, Duration.ofSeconds(90), () -> Files.exists(socket));
    return Containerd.start(installation, ctrDir, config, registryHost);
  }
}
