package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A full disk under the daemon's root: a small tmpfs of its own, filled up to its last block and
 * inode. Calls that need the disk answer RESOURCE_EXHAUSTED (as containerd's errdefs have it) with
 * the reason, whether the failure came from creating a snapshot's directories (Prepare, View:
 * ENOSPC) or from SQLite (Update, Commit: SQLITE_FULL); nothing half-done is left, reads keep
 * working, and once space is freed everything works again. Needs root (mounting the tmpfs).
 */
class DiskFullTest {
  private Path base;
  private Path disk;
  private Path filler;
  private Mounts mounts;
  private SnapshotterDaemon daemon;
  private SnapshotsClient client;

  @BeforeEach
  void start() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-diskfull-");
    disk = Files.createDirectory(base.resolve("disk"));
    mounts = new Mounts();
    mounts.mount(disk, null, "-t", "tmpfs", "-o", "size=32m,nr_inodes=2048", "tmpfs");
    filler = Files.createDirectory(disk.resolve("filler"));
    daemon = SnapshotterDaemon.start(disk.resolve("root"), base.resolve("obd.sock"));
    client = daemon.client();
  }

  @AfterEach
  void stop() throws IOException {
    try {
      if (daemon != null) {
        assertThat(daemon.logTail(100000)).doesNotContain("UNKNOWN");
        assertThat(daemon.stop()).isZero();
      }
    } finally {
      if (mounts != null) {
        mounts.close();
      }
      if (base != null) {
        Layers.deleteTree(base);
      }
    }
  }

  /** Writes into the filler directory until the tmpfs has no block and no inode left. */
  private void fillTheDisk() throws IOException {
    ByteBuffer block = ByteBuffer.allocate(1 << 16);
    try (FileChannel f =
        FileChannel.open(
            filler.resolve("blocks"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      while (true) {
        block.clear();
        f.write(block);
      }
    } catch (IOException e) {
      assertThat(e).hasMessageContaining("No space left on device");
    }
    try {
      for (int i = 0; ; i++) {
        Files.createFile(filler.resolve("inode-" + i));
      }
    } catch (IOException e) {
      assertThat(e).hasMessageContaining("No space left on device");
    }
  }

  private static void assertExhausted(Runnable call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode())
                  .as(e.getStatus().toString())
                  .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
              assertThat(e.getStatus().getDescription())
                  .containsAnyOf("No space left on device", "SQLITE_FULL");
            });
  }

  /** Labels of about 60 KiB: writing them takes more database pages than a full disk has. */
  private static Map<String, String> bulkyLabels() {
    Map<String, String> labels = new HashMap<>();
    for (int i = 0; i < 15; i++) {
      labels.put("bulk-" + i, Integer.toString(i).repeat(4000 / Integer.toString(i).length()));
    }
    return labels;
  }

  @Test
  void aFullDiskIsResourceExhaustedAndEverythingWorksOnceSpaceIsFreed() throws IOException {
    client.prepare("layer-active", "");
    client.commit("layer", "layer-active");
    client.prepare("container", "layer");
    long directories = Files.list(daemon.root().resolve("snapshots")).count();

    fillTheDisk();
    assertExhausted(() -> client.prepare("new", "layer"));
    assertExhausted(() -> client.view("new-view", "layer", bulkyLabels()));
    Info bulky = client.stat("layer").toBuilder().putAllLabels(bulkyLabels()).build();
    assertExhausted(() -> client.update(bulky));
    assertExhausted(() -> client.commit("container-committed", "container", bulkyLabels()));

    // nothing half-done, and reads are served from memory as before
    assertThat(client.list()).extracting(Info::getName).contains("layer", "container");
    assertThat(client.stat("container").getKind()).isEqualTo(Kind.ACTIVE);
    assertThat(client.stat("layer").getLabelsMap()).doesNotContainKey("bulk-0");
    assertThat(client.mounts("container")).isNotEmpty();
    assertThat(Files.list(daemon.root().resolve("snapshots")).count()).isEqualTo(directories);

    Layers.deleteTree(filler);
    client.prepare("new", "layer");
    client.update(bulky);
    client.commit("container-committed", "container", bulkyLabels());
    assertThat(client.stat("container-committed").getKind()).isEqualTo(Kind.COMMITTED);
    assertThat(client.stat("layer").getLabelsMap()).containsKey("bulk-0");

    // and what was acknowledged is what a restart finds
    assertThat(daemon.stop()).isZero();
    daemon = SnapshotterDaemon.start(disk.resolve("root"), base.resolve("obd.sock"));
    client = daemon.client();
    assertThat(client.list())
        .extracting(Info::getName)
        .containsExactlyInAnyOrder("layer", "new", "container-committed");
    assertThat(client.stat("layer").getLabelsMap()).containsKey("bulk-0");
  }
}
