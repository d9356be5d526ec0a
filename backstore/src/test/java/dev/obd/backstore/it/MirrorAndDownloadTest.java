package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.image.build.LayerBlobWriter;
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
 * Registry mirrors and upstream's background download, against real registries: blobs of a registry
 * that is down are read from its configured mirror; with {@code download.enable} the whole blob
 * lands digest-checked in the layer directory as overlaybd.commit and reads no longer need any
 * registry.
 */
class MirrorAndDownloadTest {
  @TempDir Path dir;

  @Test
  void aDownOriginIsServedByItsMirrorAndTheBackgroundDownloadMakesTheLayerLocal() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 3, 1 << 20, 16L << 20);
    int deadOrigin = LocalRegistry.freePort(); // nothing listens here: the origin is down
    Path layerDir = dir.resolve("snap/fs");
    LocalRegistry mirror = LocalRegistry.start(dir.resolve("mirror"));
    try (Mounts mounts = new Mounts()) {
      TestImages.push(mirror.url(), "m/img", img.blob(), img.digest(), null);
      Path config =
          Fixture.imageConfig(
              dir.resolve("snap/config.v1.json"),
              Map.of(
                  "repoBlobUrl", "http://127.0.0.1:" + deadOrigin + "/v2/m/img/blobs",
                  "lowers",
                      List.of(
                          Map.of(
                              "digest", img.digest(),
                              "size", img.blobSize(),
                              "dir", layerDir.toString())),
                  "upper", Map.of(),
                  "download", Map.of("enable", true, "delay", 0, "delayExtra", 0, "maxMBps", 200)));
      Path daemonDir = dir.resolve("d");
      BackstoreDaemon daemon =
          BackstoreDaemon.start(
              Fixture.readConfig(
                  Fixture.daemonConfig(
                      daemonDir,
                      Map.of(
                          "mirrors",
                          List.of(
                              Map.of(
                                  "host",
                                  "127.0.0.1:" + deadOrigin,
                                  "endpoint",
                                  mirror.url().toString()))))));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Path commit = layerDir.resolve("overlaybd.commit");
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!Files.exists(commit) && System.nanoTime() < end) {
          Thread.sleep(100);
        }
        assertThat(commit).exists();
        assertThat("sha256:" + Fixture.sha256(commit)).isEqualTo(img.digest());
        assertThat(layerDir.resolve(".download")).doesNotExist();
        assertThat(TestImages.bytesServed(mirror.log(), img.digest()))
            .isGreaterThanOrEqualTo(img.blobSize());

        mirror.close(); // no registry at all from here on (closing twice is harmless)
        Fixture.assertFilesReadAsSource(
            mounts,
            d.device(),
            dir.resolve("mnt"),
            img.source(),
            "data/file0.bin",
            "data/file1.bin",
            "data/file2.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
    } finally {
      mirror.close();
    }
    assertThat(LayerBlobWriter.sha256(layerDir.resolve("overlaybd.commit")))
        .isEqualTo(img.digest());
  }
}
