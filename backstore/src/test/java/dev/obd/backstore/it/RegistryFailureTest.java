package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceState;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a user sees when the registry or the cache misbehaves: wrong credentials are a clear error
 * that names the user but never the password; a damaged cache chunk is detected and fetched again.
 * Outages, slow, truncated, corrupted, 500 and 401 answers under a mounted device are {@link
 * RegistryFaultsTest}'s.
 */
class RegistryFailureTest {
  private static final String PASSWORD = "s3cret-Pa55-do-not-log";

  @TempDir Path dir;
  private final List<String> logLines = new ArrayList<>();
  private final Handler capture = Fixture.logCapture(logLines);

  @BeforeEach
  void captureLogs() {
    Logger.getLogger("").addHandler(capture);
  }

  @AfterEach
  void stopCapture() {
    Logger.getLogger("").removeHandler(capture);
  }

  private Path config(String name, String registry, TestImages.Built img) throws IOException {
    return Fixture.imageConfig(
        dir.resolve(name + "/config.v1.json"),
        Map.of(
            "repoBlobUrl", registry + "/v2/fail/img/blobs",
            "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
            "upper", Map.of(),
            "resultFile", dir.resolve(name + "/init-debug.log").toString()));
  }

  @Test
  void wrongCredentialsAreAClearErrorAndRightOnesWorkWithoutARestart() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 1, 1 << 20, 16L << 20);
    Path htpasswd = dir.resolve("htpasswd");
    Mounts.run(List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD), null);
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry =
        new RegistryProcess(dir.resolve("reg"), LocalRegistry.freePort(), htpasswd).start()) {
      String basic = Fixture.basicAuth("alice", PASSWORD);
      TestImages.push(registry.url(), "fail/img", img.blob(), img.digest(), basic);
      Path cred = daemonDir.resolve("cred.json");
      Files.createDirectories(daemonDir);
      Files.writeString(
          cred,
          "{\"auths\":{\""
              + registry.url().getAuthority()
              + "/fail\":{\"username\":\"alice\",\"password\":\"wrong-"
              + PASSWORD
              + "\"}}}");
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        Path config = config("snap", registry.url().toString(), img);
        assertThatThrownBy(() -> client.add(config, Duration.ofSeconds(30)))
            .isInstanceOf(BackstoreApiException.class)
            .hasMessageContaining("attach device for config " + config)
            .hasMessageContaining("registry answered 401")
            .hasMessageContaining("authentication failed for user 'alice'")
            .hasMessageNotContaining(PASSWORD);
        assertThat(Files.readString(dir.resolve("snap/init-debug.log")))
            .startsWith("failed:")
            .contains("401")
            .doesNotContain(PASSWORD);

        // docker's config.json format, the right password: picked up without a restart
        Files.delete(cred);
        Files.writeString(
            daemonDir.resolve("docker-config.json"),
            "{\"auths\":{\"http://"
                + registry.url().getAuthority()
                + "\":{\"auth\":\""
                + Base64.getEncoder()
                    .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8))
                + "\"}}}");
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        assertThat(d.state()).isEqualTo(DeviceState.ATTACHED);
        assertThat(Files.readString(dir.resolve("snap/init-debug.log"))).isEqualTo("success");
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
      synchronized (logLines) {
        assertThat(logLines).isNotEmpty().noneMatch(l -> l.contains(PASSWORD));
        String encoded =
            Base64.getEncoder()
                .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
        assertThat(logLines).noneMatch(l -> l.contains(encoded));
      }
    }
  }

  @Test
  void aDamagedCacheChunkIsDetectedAndFetchedAgain() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 2, 1 << 20, 16L << 20);
    Path daemonDir = dir.resolve("d");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("reg"));
        Mounts mounts = new Mounts()) {
      TestImages.push(registry.url(), "fail/img", img.blob(), img.digest(), null);
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d =
            client.add(config("snap", registry.url().toString(), img), Duration.ofSeconds(30));
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
        String expected = Fixture.sha256(img.source().resolve("data/file1.bin"));
        assertThat(Fixture.sha256(mnt.resolve("data/file1.bin"))).isEqualTo(expected);
        mounts.unmount(mnt);

        // flip a byte in every cached chunk, as a bad disk or a torn write would
        Path cacheDir = daemonDir.resolve("cache").resolve(img.digest().substring(7));
        int damaged = 0;
        try (Stream<Path> chunks = Files.list(cacheDir)) {
          for (Path c : (Iterable<Path>) chunks::iterator) {
            if (c.getFileName().toString().matches("\\d+")) {
              try (var ch =
                  java.nio.channels.FileChannel.open(
                      c, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                var b = java.nio.ByteBuffer.allocate(1);
                ch.read(b, 100);
                b.flip().put(0, (byte) (b.get(0) ^ 0x5a));
                ch.write(b, 100);
              }
              damaged++;
            }
          }
        }
        assertThat(damaged).isPositive();
        Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
        long servedBefore = TestImages.bytesServed(registry.log(), img.digest());

        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
        assertThat(Fixture.sha256(mnt.resolve("data/file1.bin"))).isEqualTo(expected);
        assertThat(client.info(Duration.ofSeconds(5)).cacheCorrupt()).isPositive();
        assertThat(TestImages.bytesServed(registry.log(), img.digest()))
            .isGreaterThan(servedBefore);
        mounts.unmount(mnt);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
    }
  }
}
