package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
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
 * Lazy pulling against a real docker-registry on loopback: mounting the image and reading one small
 * file fetches a small part of the blob, counted from the registry's own access log.
 */
class LazyRegistryTest {
  @TempDir Path dir;

  @Test
  void listingADirectoryAndReadingOneFileFetchesOnlyTheTouchedRanges() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("mkfs.ext4");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 12, 4 << 20, 96L << 20);
    Path daemonDir = dir.resolve("d");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"));
        Mounts mounts = new Mounts()) {
      TestImages.push(registry.url(), "lazy/img", img.blob(), img.digest(), null);
      long before = TestImages.bytesServed(registry.log(), img.digest());
      Path config =
          Fixture.imageConfig(
              dir.resolve("snap/config.v1.json"),
              Map.of(
                  "repoBlobUrl", registry.url() + "/v2/lazy/img/blobs",
                  "lowers",
                      List.of(
                          Map.of(
                              "digest", img.digest(),
                              "size", img.blobSize(),
                              "dir", dir.resolve("snap/fs").toString())),
                  "upper", Map.of(),
                  "resultFile", dir.resolve("snap/init-debug.log").toString()));
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(60));
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", d.device());
        try (var listing = Files.list(mnt.resolve("data"))) {
          assertThat(listing.count()).isEqualTo(12);
        }
        assertThat(Files.readString(mnt.resolve("small.txt")))
            .isEqualTo("hello from a lazily fetched layer\n");
        long served = TestImages.bytesServed(registry.log(), img.digest()) - before;
        assertThat(served)
            .as("registry bytes for listing + one small file, of a %d-byte blob", img.blobSize())
            .isPositive()
            .isLessThan(img.blobSize() / 10);

        Path one = mnt.resolve("data/file3.bin");
        assertThat(Fixture.sha256(one))
            .isEqualTo(Fixture.sha256(img.source().resolve("data/file3.bin")));
        long afterOneFile = TestImages.bytesServed(registry.log(), img.digest()) - before;
        assertThat(afterOneFile - served)
            .as("reading one 4 MiB file fetches about that file")
            .isBetween(4L << 20, 6L << 20);
        System.out.printf(
            "lazy: blob %d bytes; list+small file fetched %d bytes (%.2f%%); one 4 MiB file +%d bytes%n",
            img.blobSize(), served, 100.0 * served / img.blobSize(), afterOneFile - served);
        mounts.unmount(mnt);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
    }
  }
}
