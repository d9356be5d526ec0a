package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.RegistryTokenServer;
import dev.obd.testsupport.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bearer-token auth as Docker Hub and most registries do it, with a real docker-registry in token
 * mode. The token server is the test's own small HTTP server (docker-registry has none): it checks
 * Basic credentials and issues RS256 JWTs signed with a key whose certificate the registry trusts.
 * The backstore must follow the 401 challenge to the realm, present the credentials from cred.json
 * there, and use the token for range reads.
 */
class BearerTokenAuthTest {
  private static final String PASSWORD = "tok-Pa55-secret";

  @TempDir Path dir;

  @Test
  void blobsBehindATokenServerAreReadWithTheTokenAndBadCredentialsAreRefusedClearly()
      throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("openssl");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 1, 1 << 20, 16L << 20);
    RegistryTokenServer tokens =
        RegistryTokenServer.start(dir.resolve("tokens"), "alice", PASSWORD);
    int port = LocalRegistry.freePort();
    String auth = tokens.registryAuthYaml();
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry = new RegistryProcess(dir.resolve("reg"), port, auth).start();
        Mounts mounts = new Mounts()) {
      Path config = pushAndConfigure(registry, tokens, img, daemonDir, port);
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
        assertThat(tokens.issued.get()).as("tokens issued to the backstore").isPositive();

        Files.writeString(
            daemonDir.resolve("cred.json"),
            "{\"auths\":{\"127.0.0.1:"
                + port
                + "\":{\"username\":\"alice\",\"password\":\"nope\"}}}");
        Path other =
            Fixture.imageConfig(
                dir.resolve("snap2/config.v1.json"),
                Map.of(
                    "repoBlobUrl", registry.url() + "/v2/auth/img/blobs",
                    "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
                    "upper", Map.of()));
        // the cached token of the first device may still be valid; a new daemon asks again
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        daemon =
            BackstoreDaemon.start(
                Fixture.readConfig(
                    Fixture.daemonConfig(
                        daemonDir,
                        Map.of(
                            "cacheConfig", Map.of("cacheDir", dir.resolve("cache2").toString())))));
        BackstoreClient client2 = Fixture.client(daemonDir);
        assertThatThrownBy(() -> client2.add(other, Duration.ofSeconds(30)))
            .isInstanceOf(BackstoreApiException.class)
            .hasMessageContaining("token server answered 401")
            .hasMessageContaining("authentication failed for user 'alice'")
            .hasMessageNotContaining("nope");
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        tokens.close();
      }
    }
  }

  @Test
  void aTokenThatExpiresDuringALongReadIsReplacedAndTheReadGoesOn() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("openssl");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 2, 1 << 20, 16L << 20);
    RegistryTokenServer tokens =
        RegistryTokenServer.start(dir.resolve("tokens"), "alice", PASSWORD);
    int port = LocalRegistry.freePort();
    String auth = tokens.registryAuthYaml();
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry = new RegistryProcess(dir.resolve("reg"), port, auth).start();
        Mounts mounts = new Mounts()) {
      Path config = pushAndConfigure(registry, tokens, img, daemonDir, port);
      // the registry takes a token 4 s, though the token server says 300 s: the backstore learns
      // of the expiry from the registry's 401 in the middle of the device's life
      tokens.validSeconds = 4;
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        int before = tokens.issued.get();
        Thread.sleep(5_000);
        // file1's blocks are not cached yet: they need the registry, and a new token
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt2"), img.source(), "data/file1.bin");
        assertThat(tokens.issued.get()).as("a token after the expiry").isGreaterThan(before);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        tokens.close();
      }
    }
  }

  /**
   * Pushes the image's layer, writes alice's cred.json for the registry on {@code port} into {@code
   * daemonDir}, and returns the config.v1.json of a device on the layer.
   */
  private Path pushAndConfigure(
      RegistryProcess registry,
      RegistryTokenServer tokens,
      TestImages.Built img,
      Path daemonDir,
      int port)
      throws Exception {
    TestImages.push(
        registry.url(), "auth/img", img.blob(), img.digest(), "Bearer " + tokens.token("auth/img"));
    Files.createDirectories(daemonDir);
    Files.writeString(
        daemonDir.resolve("cred.json"),
        "{\"auths\":{\"127.0.0.1:"
            + port
            + "\":{\"username\":\"alice\",\"password\":\""
            + PASSWORD
            + "\"}}}");
    return Fixture.imageConfig(
        dir.resolve("snap/config.v1.json"),
        Map.of(
            "repoBlobUrl", registry.url() + "/v2/auth/img/blobs",
            "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
            "upper", Map.of()));
  }
}
