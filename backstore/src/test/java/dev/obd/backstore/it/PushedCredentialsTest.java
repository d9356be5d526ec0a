package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.BlobAccessDeniedException;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.RegistryCredential;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Credentials pushed over the control socket ({@code PUT /v1/credentials}, as the snapshotter's CRI
 * proxy does with kubelet's) let a device read a blob of a private registry (docker-registry with
 * htpasswd) for which the daemon has no configured credentials. They are kept in memory only: no
 * file of the daemon and no log line holds the secret, and a restarted daemon has lost them (and
 * says it is another run, so the pusher knows to push again).
 */
class PushedCredentialsTest {
  private static final String PASSWORD = "push-Pa55-from-kubelet";

  @TempDir Path dir;

  @Test
  void pushedCredentialsLetADeviceReadAPrivateBlobAndLiveOnlyInTheDaemonsMemory() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 1, 1 << 20, 16L << 20);
    Path htpasswd = dir.resolve("htpasswd");
    Mounts.run(List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD), null);
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry =
            new RegistryProcess(dir.resolve("reg"), LocalRegistry.freePort(), htpasswd).start();
        Mounts mounts = new Mounts()) {
      TestImages.push(
          registry.url(),
          "priv/img",
          img.blob(),
          img.digest(),
          Fixture.basicAuth("alice", PASSWORD));
      String repoBlobUrl = registry.url() + "/v2/priv/img/blobs";
      Path config =
          Fixture.imageConfig(
              dir.resolve("snap/config.v1.json"),
              Map.of(
                  "repoBlobUrl",
                  repoBlobUrl,
                  "lowers",
                  List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
                  "upper",
                  Map.of()));
      Path daemonConfig = Fixture.daemonConfig(daemonDir, Map.of("logLevel", "debug"));
      Path socket = daemonDir.resolve("run/backstore.sock");
      BackstoreClient client = Fixture.client(daemonDir);
      String host = registry.url().getAuthority();
      try {
        String firstRun;
        try (ChildProcess daemon = DaemonProcess.start(daemonDir, daemonConfig, "daemon.log")) {
          daemon.awaitCondition(
              "control API answers", Duration.ofSeconds(60), () -> BackstoreClient.answers(socket));
          assertThatThrownBy(
                  () -> client.checkBlob(repoBlobUrl, img.digest(), img.blobSize(), timeout()))
              .as("without credentials the registry refuses the daemon")
              .isInstanceOf(BlobAccessDeniedException.class);

          client.putCredentials(
              new RegistryCredential(
                  host, "priv/other", "alice", "wrong-" + PASSWORD, false, inAnHour()),
              timeout());
          assertThatThrownBy(
                  () -> client.checkBlob(repoBlobUrl, img.digest(), img.blobSize(), timeout()))
              .as("another repository's credentials are not used")
              .isInstanceOf(BlobAccessDeniedException.class);

          client.putCredentials(
              new RegistryCredential(host, "priv/img", "alice", PASSWORD, false, inAnHour()),
              timeout());
          client.checkBlob(repoBlobUrl, img.digest(), img.blobSize(), timeout());
          DeviceInfo d = client.add(config, Duration.ofSeconds(30));
          Fixture.assertFilesReadAsSource(
              mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
          client.remove(d.device(), Duration.ofSeconds(30));
          firstRun = client.info(timeout()).instance();
          daemon.terminate(Duration.ofSeconds(30));
        }

        try (ChildProcess daemon = DaemonProcess.start(daemonDir, daemonConfig, "daemon2.log")) {
          daemon.awaitCondition(
              "control API answers", Duration.ofSeconds(60), () -> BackstoreClient.answers(socket));
          assertThat(client.info(timeout()).instance())
              .as("a restarted daemon says it is another run")
              .isNotEqualTo(firstRun);
          assertThatThrownBy(
                  () -> client.checkBlob(repoBlobUrl, img.digest(), img.blobSize(), timeout()))
              .as("a restarted daemon has forgotten pushed credentials")
              .isInstanceOf(BlobAccessDeniedException.class)
              .hasMessageNotContaining(PASSWORD);
          daemon.terminate(Duration.ofSeconds(30));
        }
      } finally {
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
      String basic =
          Base64.getEncoder()
              .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
      assertThat(Files.readString(daemonDir.resolve("daemon.log")))
          .as("the debug log")
          .contains("keeping pushed credentials for " + host + "/priv/img")
          .doesNotContain(PASSWORD)
          .doesNotContain(basic);
      try (Stream<Path> files = Files.walk(daemonDir)) {
        for (Path f : files.filter(Files::isRegularFile).toList()) {
          String content = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
          assertThat(content).as(f.toString()).doesNotContain(PASSWORD).doesNotContain(basic);
        }
      }
    }
  }

  private static Duration timeout() {
    return Duration.ofSeconds(30);
  }

  private static Instant inAnHour() {
    return Instant.now().plus(Duration.ofHours(1));
  }
}
