package dev.obd.snapshotter.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link NbdAttacher} against a real obd-backstore (started in this JVM) serving the converted
 * hello-world image through nbdfuse and a loop device, as on this kernel, which has no nbd. What
 * this kernel cannot show is kernel nbd's device that the backstore names before it opens: that
 * part is a SIMULATION, a {@link KernelFiles} over the host's own that answers the attacher's first
 * opens (or all of them) with ENXIO; the device itself, its reads and the backstore are real.
 */
class NbdAttacherTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String HELLO_BLOB =
      "blobs/sha256/022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";
  private static final int EXT4_MAGIC_OFFSET = 1024 + 0x38;

  @TempDir Path dir;
  private BackstoreDaemon backstore;
  private Path socket;
  private Path snapshots;
  private Path config;

  @BeforeEach
  void startBackstore() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("losetup");
    Path blob = Requirements.requireSharedTestData("hello-world-obd").resolve(HELLO_BLOB);
    Path d = dir.resolve("backstore");
    socket = d.resolve("run/backstore.sock");
    Path daemonConfig = Files.createDirectories(d).resolve("backstore.json");
    JSON.writeValue(
        daemonConfig.toFile(),
        Map.of(
            "socket", socket.toString(),
            "stateDir", d.resolve("state").toString(),
            "runDir", d.resolve("run").toString(),
            "attachMode", "fuse",
            "credentialFilePath", d.resolve("cred.json").toString(),
            "dockerConfigPath", d.resolve("docker-config.json").toString(),
            "cacheConfig", Map.of("cacheDir", d.resolve("cache").toString(), "cacheSizeGB", 1)));
    backstore = BackstoreDaemon.start(BackstoreConfig.read(daemonConfig));
    snapshots = dir.resolve("snapshots");
    Path block = Files.createDirectories(snapshots.resolve("7/block"));
    config = block.resolve("config.v1.json");
    JSON.writeValue(
        config.toFile(),
        Map.of(
            "repoBlobUrl", "",
            "lowers", List.of(Map.of("file", blob.toString())),
            "upper", Map.of(),
            "resultFile", block.resolve("init-debug.log").toString()));
  }

  @AfterEach
  void stopBackstore() throws Exception {
    if (backstore != null) {
      try {
        BackstoreClient client = new BackstoreClient(socket);
        for (var d : client.list(Duration.ofSeconds(10))) {
          client.remove(d.id(), Duration.ofSeconds(60));
        }
      } finally {
        backstore.close();
      }
    }
  }

  @Test
  void theDeviceIsHandedOutOnlyOnceItOpensAndReads() throws Exception {
    RefusingOpens kernel = new RefusingOpens(5);
    NbdAttacher attacher = new NbdAttacher(socket, snapshots, kernel);
    String device = attacher.attach(7, config, Duration.ofSeconds(60));
    assertThat(device).startsWith("/dev/loop");
    assertThat(kernel.refused.get()).as("the refused opens were waited out").isEqualTo(5);
    assertThat(kernel.opens.get()).as("then one open that read").isEqualTo(6);
    assertThat(ext4Magic(device)).as("the device is the image's ext4").isEqualTo(0xEF53);
    assertThat(attacher.attached(Duration.ofSeconds(10)))
        .containsEntry(7L, AttachedDevice.healthy(device));

    attacher.detach(7, config, Duration.ofSeconds(60));
    assertThat(attacher.attached(Duration.ofSeconds(10))).isEmpty();
  }

  @Test
  void aDeviceThatNeverOpensFailsAtTheDeadlineNamingItAndTheWaitAndIsRemovedAgain()
      throws Exception {
    NbdAttacher attacher = new NbdAttacher(socket, snapshots, new RefusingOpens(Integer.MAX_VALUE));
    assertThatThrownBy(() -> attacher.attach(7, config, Duration.ofSeconds(3)))
        .isInstanceOf(AttachException.class)
        .hasMessageStartingWith("attach nbd device for snapshot 7 (config " + config + "): ")
        .hasMessageMatching(
            ".*obd-backstore attached (/dev/loop[0-9]+), but \\1 did not open and read within"
                + " [0-9]+ ms \\([0-9]+ attempts; last: open \\1: No such device or address\\)");
    assertThat(attacher.attached(Duration.ofSeconds(10)))
        .as("the device that never opened is not left behind")
        .isEmpty();
  }

  private static int ext4Magic(String device) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(device, "r")) {
      f.seek(EXT4_MAGIC_OFFSET);
      return Short.toUnsignedInt(Short.reverseBytes(f.readShort()));
    }
  }

  /**
   * The host's kernel files, except that the first {@code refusals} opens of a block device answer
   * ENXIO, as kernel nbd's and sd's devices do for a moment after they were named.
   */
  private static final class RefusingOpens extends ForwardingKernelFiles {
    private final int refusals;
    final AtomicInteger opens = new AtomicInteger();
    final AtomicInteger refused = new AtomicInteger();

    RefusingOpens(int refusals) {
      super(new HostKernelFiles());
      this.refusals = refusals;
    }

    @Override
    public int readStart(String device, int length) throws IOException {
      if (opens.incrementAndGet() <= refusals) {
        refused.incrementAndGet();
        throw new KernelCallException("open " + device + ": No such device or address", 6);
      }
      return kernel.readStart(device, length);
    }
  }
}
