package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
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
 * A config with a writable upper layer becomes a writable device: ext4 mounted read-write on it
 * writes (NBD WRITE), deletes with discard (NBD TRIM) and syncs (NBD FLUSH) into the upper layer's
 * files, and the changes are there when the device is added again; for both forms of the upper
 * layer, append-only and sparse ({@code overlaybd-create -s}).
 */
class WritableUpperTest {
  @TempDir Path dir;

  @Test
  void writesDeletesAndSyncsLandInTheUpperLayerAndSurviveReattach() throws Exception {
    writeDeleteSyncAndReattach(false);
  }

  @Test
  void aSparseUpperLayerTakesTheWritesInPlaceAndTheyAlsoSurviveReattach() throws Exception {
    writeDeleteSyncAndReattach(true);
  }

  private void writeDeleteSyncAndReattach(boolean sparse) throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 2, 1 << 20, 24L << 20);
    Path data = dir.resolve("snap/block/writable_data");
    Path index = dir.resolve("snap/block/writable_index");
    Files.createDirectories(data.getParent());
    if (sparse) {
      WritableLayer.createSparse(data, index, 24L << 20, LayerUuid.random(), LayerUuid.NIL).close();
    } else {
      WritableLayer.create(data, index, 0, LayerUuid.random(), LayerUuid.NIL).close();
    }
    Path config =
        Fixture.imageConfig(
            dir.resolve("snap/block/config.v1.json"),
            Map.of(
                "lowers", List.of(Map.of("file", img.blob().toString())),
                "upper", Map.of("index", index.toString(), "data", data.toString()),
                "resultFile", dir.resolve("snap/block/init-debug.log").toString()));
    Path daemonDir = dir.resolve("d");
    BackstoreDaemon daemon =
        BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
    Path mnt = Files.createDirectories(dir.resolve("mnt"));
    byte[] payload = new byte[700_000];
    new java.util.Random(3).nextBytes(payload);
    try (Mounts mounts = new Mounts()) {
      BackstoreClient client = Fixture.client(daemonDir);
      DeviceInfo d = client.add(config, Duration.ofSeconds(30));
      assertThat(d.readOnly()).isFalse();
      mounts.mount(mnt, null, "-t", "ext4", "-o", "rw,discard", d.device());
      Files.write(mnt.resolve("new.bin"), payload);
      Files.delete(mnt.resolve("data/file0.bin"));
      Mounts.run(List.of("sync", "-f", mnt.resolve("new.bin").toString()), null);
      mounts.unmount(mnt);
      DeviceInfo.Stats s = client.get(d.device(), Duration.ofSeconds(5)).stats();
      assertThat(s.writes()).isPositive();
      assertThat(s.bytesWritten()).isGreaterThanOrEqualTo(payload.length);
      assertThat(s.flushes()).isPositive();
      assertThat(s.trims()).as("ext4 -o discard trims the deleted file's blocks").isPositive();
      client.remove(d.device(), Duration.ofSeconds(30));
      if (sparse) {
        // in place: the data file stays as large as the disk plus its header
        assertThat(Files.size(data)).isEqualTo(4096 + (24L << 20));
        assertThat(Files.size(index)).isEqualTo(4096);
      } else {
        assertThat(Files.size(data)).isGreaterThan(payload.length);
      }

      DeviceInfo again = client.add(config, Duration.ofSeconds(30));
      mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", again.device());
      assertThat(Files.readAllBytes(mnt.resolve("new.bin"))).isEqualTo(payload);
      assertThat(mnt.resolve("data/file0.bin")).doesNotExist();
      assertThat(Fixture.sha256(mnt.resolve("data/file1.bin")))
          .isEqualTo(Fixture.sha256(img.source().resolve("data/file1.bin")));
      mounts.unmount(mnt);
      client.remove(again.device(), Duration.ofSeconds(30));
    } finally {
      daemon.close();
      Fixture.forceCleanup(daemonDir.resolve("run"));
    }
  }
}
