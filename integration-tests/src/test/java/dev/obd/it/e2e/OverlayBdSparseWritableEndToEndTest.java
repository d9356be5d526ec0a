package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.support.ContainerdMounts;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.TestImages;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * With {@code writableLayerType: sparse}, a writable container's layer is upstream's sparse one
 * ({@code overlaybd-create -s}): its data file is the disk, written in place; commit seals it with
 * header 0x13 and trailer 0x16, and a container on the sealed layer sees what was written.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverlayBdSparseWritableEndToEndTest {
  private static final String NS = "k8s.io";
  private static final String WRITABLE = "containerd.io/snapshot/overlaybd.writable";
  private E2eEnvironment env;
  private String ref;

  @BeforeAll
  void start() throws Exception {
    Requirements.requireCommand("nbdfuse");
    env = E2eEnvironment.startWithBackstore("obd-sparse", "\"writableLayerType\": \"sparse\"");
    Path converted =
        ObdImages.convert(
            TestImages.small("unused", "image content"), env.workDir("convert"), "v1");
    ref = env.registry.host() + "/obd/small:v1";
    ObdImages.push(converted, "v1", ref);
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(ref);
    }
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  private String ctr(String... args) {
    return env.containerd.ctr(NS, args);
  }

  private SnapshotsClient snapshots() {
    return env.daemon().client();
  }

  private Info snapshotOf(String key) {
    List<Info> found = snapshots().list("name~=\"^k8s.io/[0-9]+/" + key + "$\"");
    assertThat(found).as("snapshot " + key).hasSize(1);
    return found.get(0);
  }

  private Path writableDir() throws Exception {
    try (var dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      return dirs.filter(d -> Files.exists(d.resolve("block/writable_data")))
          .findFirst()
          .orElseThrow(() -> new AssertionError("no snapshot directory with a writable layer"));
    }
  }

  /** The u32 flags (offset 28) and u64 virtual size (offset 48) of an LSMT header block. */
  private record Block(int flags, long virtualSize) {}

  private static Block block(Path file, long at) throws Exception {
    ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel ch = FileChannel.open(file)) {
      ch.read(b, at < 0 ? ch.size() + at : at);
    }
    return new Block(b.getInt(28), b.getLong(48));
  }

  @Test
  void aDirModeContainerWritesInPlaceIntoASparseLayerAndCommitSealsItAsUpstreamDoes()
      throws Exception {
    String out =
        ctr(
            "run",
            "--snapshotter",
            SNAPSHOTTER,
            "--snapshotter-label",
            WRITABLE + "=dir",
            ref,
            "rw-sparse",
            "/bin/sh",
            "-c",
            "head -c 3000000 /dev/urandom > /big; sync; rm /big; echo written > /written;"
                + " cat /written /data/id");
    assertThat(out).isEqualTo("written\nimage content\n");
    Path dir = writableDir();
    Path data = dir.resolve("block/writable_data");
    Block header = block(data, 0);
    assertThat(header.flags()).as("sparse writable data header").isEqualTo(0x13);
    assertThat(header.virtualSize()).as("adopted from the image at attach").isPositive();
    assertThat(Files.size(data))
        .as("written in place: the data file is the disk plus its header")
        .isEqualTo(4096 + header.virtualSize());
    assertThat(Files.size(dir.resolve("block/writable_index")))
        .as("the index file is not used")
        .isEqualTo(4096);

    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "commit", "sealed-sparse", "rw-sparse");
    Path sealed = dir.resolve("fs/overlaybd.sealed");
    assertThat(block(sealed, 0).flags()).isEqualTo(0x13);
    assertThat(block(sealed, -4096).flags()).as("trailer").isEqualTo(0x16);
    assertThat(new BackstoreClient(env.backstoreSocket()).list(Duration.ofSeconds(10)))
        .as("commit detached the writable device")
        .isEmpty();

    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "view", "on-sealed", "sealed-sparse");
    List<Mount> mounts = snapshots().mounts(snapshotOf("on-sealed").getName());
    Path target = Files.createDirectories(env.workDir("on-sealed").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(mounts, target);
      assertThat(Files.readString(target.resolve("written"))).isEqualTo("written\n");
      assertThat(Files.readString(target.resolve("data/id"))).isEqualTo("image content\n");
      assertThat(target.resolve("big")).doesNotExist();
    }
    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "rm", "on-sealed");
    env.containerd.ctrResult(NS, "containers", "rm", "rw-sparse");
    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "rm", "sealed-sparse");
  }
}
