package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.backstore.prefetch.TraceFile;
import dev.obd.testsupport.LocalRegistry;
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
 * Upstream's trace prefetch: a container's reads are recorded into {@code recordTracePath} (the
 * {@code .lock}/{@code .ok} protocol), and a later device whose acceleration layer carries that
 * trace prefetches exactly those ranges: with a cold cache and the registry stopped after the
 * prefetch, the same files still read correctly.
 */
class TracePrefetchTest {
  @TempDir Path dir;

  @Test
  void recordedTraceReplayedFromTheAccelerationLayerPrefetchesWhatTheWorkloadReads()
      throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 6, 2 << 20, 32L << 20);
    int port = LocalRegistry.freePort();
    try (RegistryProcess registry =
            new RegistryProcess(dir.resolve("reg"), port, (Path) null).start();
        Mounts mounts = new Mounts()) {
      TestImages.push(registry.url(), "trace/img", img.blob(), img.digest(), null);
      String blobs = registry.url() + "/v2/trace/img/blobs";
      Map<String, Object> lower = Map.of("digest", img.digest(), "size", img.blobSize());
      Path trace = dir.resolve("trace_file");
      Files.createFile(trace);
      Path recordConfig =
          Fixture.imageConfig(
              dir.resolve("rec/config.v1.json"),
              Map.of(
                  "repoBlobUrl", blobs,
                  "lowers", List.of(lower),
                  "upper", Map.of(),
                  "recordTracePath", trace.toString()));
      Path mnt = Files.createDirectories(dir.resolve("mnt"));
      String expected = Fixture.sha256(img.source().resolve("data/file4.bin"));

      Path d1 = dir.resolve("d1");
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(d1, Map.of())));
      try {
        BackstoreClient client = Fixture.client(d1);
        DeviceInfo d = client.add(recordConfig, Duration.ofSeconds(30));
        assertThat(dir.resolve("trace_file.lock")).exists();
        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
        assertThat(Fixture.sha256(mnt.resolve("data/file4.bin"))).isEqualTo(expected);
        mounts.unmount(mnt);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(d1.resolve("run"));
      }
      assertThat(dir.resolve("trace_file.ok")).exists();
      List<TraceFile.Entry> entries = TraceFile.read(trace);
      assertThat(entries).isNotEmpty().allMatch(e -> e.layer() == 0);

      // a new daemon with an empty cache; the trace arrives as an acceleration layer
      Path accDir = Files.createDirectories(dir.resolve("acc/fs"));
      Files.copy(trace, accDir.resolve("trace"));
      Path replayConfig =
          Fixture.imageConfig(
              dir.resolve("replay/config.v1.json"),
              Map.of(
                  "repoBlobUrl",
                  blobs,
                  "lowers",
                  List.of(lower, Map.of("dir", accDir.toString())),
                  "upper",
                  Map.of(),
                  "accelerationLayer",
                  true));
      Path d2 = dir.resolve("d2");
      daemon = BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(d2, Map.of())));
      try {
        BackstoreClient client = Fixture.client(d2);
        DeviceInfo d = client.add(replayConfig, Duration.ofSeconds(30));
        awaitStableRegistryBytes(client);
        long prefetched = client.info(Duration.ofSeconds(5)).registryBytes();
        assertThat(prefetched).isPositive().isLessThan(img.blobSize() / 2);
        registry.stop();
        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
        assertThat(Fixture.sha256(mnt.resolve("data/file4.bin")))
            .as("read with the registry down: served from what the trace prefetched")
            .isEqualTo(expected);
        mounts.unmount(mnt);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(d2.resolve("run"));
      }
    }
  }

  private static void awaitStableRegistryBytes(BackstoreClient client) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    long last = -1;
    int stable = 0;
    while (stable < 5) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("prefetch did not settle within 30 s");
      }
      long now = client.info(Duration.ofSeconds(5)).registryBytes();
      stable = now == last && now > 0 ? stable + 1 : 0;
      last = now;
      Thread.sleep(200);
    }
  }
}
