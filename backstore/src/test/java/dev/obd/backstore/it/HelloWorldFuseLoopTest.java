package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The converted hello-world image (built by the official convertor, not by us) from a local layer
 * file, attached by the daemon through nbdfuse + loop, mounted as ext4: {@code /hello} must be
 * byte-identical to the original image's file.
 */
class HelloWorldFuseLoopTest {
  @TempDir Path dir;

  @Test
  void mountedHelloWorldImageShowsTheOriginalHelloFile() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("losetup");
    Path data = Requirements.requireSharedTestData("hello-world-obd");
    Path blob = data.resolve("blobs/sha256/" + Fixture.HELLO_BLOB.substring(7));
    Path result = dir.resolve("init-debug.log");
    Path config =
        Fixture.imageConfig(
            dir.resolve("image/config.v1.json"),
            Map.of(
                "repoBlobUrl", "",
                "lowers", List.of(Map.of("file", blob.toString())),
                "upper", Map.of(),
                "resultFile", result.toString()));
    Path daemonDir = dir.resolve("d");
    BackstoreDaemon daemon =
        BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
    Path mnt = Files.createDirectories(dir.resolve("mnt"));
    try (Mounts mounts = new Mounts()) {
      BackstoreClient client = Fixture.client(daemonDir);
      assertThat(client.info(Duration.ofSeconds(5)).attachMode()).isEqualTo("fuse");
      DeviceInfo d = client.add(config, Duration.ofSeconds(30));
      assertThat(d.device()).startsWith("/dev/loop");
      assertThat(d.mode()).isEqualTo("fuse");
      assertThat(d.readOnly()).isTrue();
      assertThat(d.size()).isEqualTo(64L << 30);
      assertThat(Files.readString(result)).isEqualTo("success");
      assertThat(client.add(config, Duration.ofSeconds(30)).device())
          .as("adding the same config again returns the same device")
          .isEqualTo(d.device());

      mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
      assertThat(Fixture.sha256(mnt.resolve("hello"))).isEqualTo(Fixture.HELLO_SHA256);
      assertThat(Files.size(mnt.resolve("hello"))).isEqualTo(13_256);
      assertThat(client.list(Duration.ofSeconds(5)))
          .extracting(DeviceInfo::device)
          .containsExactly(d.device());
      assertThat(client.get(d.device(), Duration.ofSeconds(5)).stats().bytesRead()).isPositive();

      mounts.unmount(mnt);
      client.remove(d.device(), Duration.ofSeconds(30));
      assertThat(client.list(Duration.ofSeconds(5))).isEmpty();
      assertThat(Mounts.run(List.of("losetup", "-a"), null)).doesNotContain(daemonDir.toString());
    } finally {
      daemon.close();
      Fixture.forceCleanup(daemonDir.resolve("run"));
    }
  }
}
