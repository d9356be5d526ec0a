package dev.obd.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.Layers;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
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
 * a containerd configured by what was installed, and run a container.
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
        .contains("[proxy_plugins.overlaybd]")
        .contains("disable_snapshot_annotations = false");

    Containerd.Result second = install(prefix, "--cri");
    assertThat(second.exit()).isZero();
    assertThat(second.output())
        .contains("nothing to do")
        .doesNotContain("install ")
        .doesNotContain("create ");
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
    String installed = Files.readString(prefix.resolve("etc/containerd/config.toml"));
    String config =
        installed
            .replace("/run/overlaybd-snapshotter/overlaybd.sock", socket.toString())
            .replaceFirst(
                "version = 2\n",
                "version = 2\nroot = \"%1$s/root\"\nstate = \"%1$s/state\"\n[grpc]\n  address = \"%1$s/containerd.sock\"\n[ttrpc]\n  address = \"%1$s/containerd.sock.ttrpc\"\n"
                    .formatted(ctrDir));
    config +=
        "\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \""
            + ctrDir
            + "/certs.d\"\n";
    try (LocalRegistry registry = LocalRegistry.start(base.resolve("registry"));
        ChildProcess daemon =
            ChildProcess.start(
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
        Containerd containerd = startWhenServing(daemon, socket, ctrDir, config, registry.host())) {
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

  private static Containerd startWhenServing(
      ChildProcess daemon, Path socket, Path ctrDir, String config, String registryHost) {
    daemon.awaitCondition("socket " + socket, Duration.ofSeconds(90), () -> Files.exists(socket));
    return Containerd.start(ctrDir, config, registryHost);
  }
}
