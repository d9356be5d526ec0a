package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.StringJoiner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The store a busy node accumulates, served by the daemon as installed (the distribution's
 * launcher, with its heap limit): 100,000 snapshots with the labels CRI gives image layers, plus
 * snapshots whose labels are as large as containerd allows, must neither keep the daemon from
 * starting nor make it fail to serve. The records are written straight into the metadata database
 * (the daemon's own schema, made by a first start), as a long-running node would have.
 */
class LargeStoreTest {
  private static final int IMAGES = 5_000;
  private static final int LAYERS = 20;
  private static final int LARGE = 1_500;
  private Path dir;
  private ChildProcess daemon;

  @BeforeEach
  void setUp() throws Exception {
    Requirements.requireRoot();
    dir = Files.createTempDirectory("obd-large-");
  }

  @AfterEach
  void tearDown() throws Exception {
    if (daemon != null) {
      daemon.close();
    }
    Layers.deleteTree(dir);
  }

  @Test
  void hundredThousandSnapshotsWithCriLabelsAndHugeLabelsStartAndServeUnderTheShippedLauncher()
      throws Exception {
    Path root = dir.resolve("root");
    Path socket = dir.resolve("obd.sock");
    start(root, socket);
    try (SnapshotsClient c = SnapshotsClient.connect(socket)) {
      c.prepare("probe", "");
      c.remove("probe");
    }
    assertThat(daemon.terminate(Duration.ofSeconds(30))).isZero();

    fill(root.resolve("metadata.sqlite"));
    for (int layer = 0; layer < LAYERS; layer++) {
      // the directories of the last image's layers, which the test stacks a container on
      Files.createDirectories(
          root.resolve("snapshots").resolve(Long.toString(id(IMAGES - 1, layer))).resolve("fs"));
    }

    start(root, socket);
    try {
      serveTheLargeStore(socket);
    } catch (AssertionError | RuntimeException e) {
      throw new AssertionError(
          "serving the large store failed (" + e + "); the daemon's log:\n" + daemon.logTail(40),
          e);
    }
    System.out.println("obd-snapshotter with the large store: " + memory(daemon.pid()));
    assertThat(daemon.terminate(Duration.ofSeconds(30))).isZero();
  }

  private void serveTheLargeStore(Path socket) {
    try (SnapshotsClient c = SnapshotsClient.connect(socket)) {
      String top = chainId(IMAGES - 1, LAYERS - 1);
      Info info = c.stat(top);
      assertThat(info.getParent()).isEqualTo(chainId(IMAGES - 1, LAYERS - 2));
      assertThat(info.getLabelsMap()).isEqualTo(criLabels(IMAGES - 1, LAYERS - 1));
      Info huge = c.stat("huge-7");
      assertThat(huge.getLabelsMap()).hasSize(16);
      assertThat(huge.getLabelsMap().get("k3")).hasSize(4000);

      List<Info> remote =
          c.list(
              "labels.\"containerd.io/snapshot.ref\"=="
                  + top
                  + ",parent==\""
                  + info.getParent()
                  + "\"");
      assertThat(remote).extracting(Info::getName).containsExactly(top);
      assertThat(c.listBatches().stream().mapToInt(b -> b.getInfoCount()).sum())
          .isEqualTo(IMAGES * LAYERS + LARGE);

      c.prepare("container", top);
      assertThat(c.mounts("container")).hasSize(1);
      c.remove("container");
    }
  }

  private static String memory(long pid) {
    try {
      return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
          .filter(l -> l.startsWith("VmRSS") || l.startsWith("VmHWM"))
          .map(l -> l.replaceAll("\\s+", " "))
          .reduce((a, b) -> a + ", " + b)
          .orElse("?");
    } catch (java.io.IOException e) {
      return "? (" + e + ")";
    }
  }

  private void start(Path root, Path socket) {
    Path launcher = Path.of(System.getProperty("obd.distDir"), "bin", "obd-snapshotter");
    Requirements.require(Files.isExecutable(launcher), "needs the built distribution " + launcher);
    daemon =
        ChildProcess.start(
            "obd-snapshotter",
            List.of(launcher.toString(), "--root", root.toString(), "--address", socket.toString()),
            dir.resolve("daemon-" + System.nanoTime() + ".log"),
            // no start-up archive: the launcher would train one in the background 10 s after
            // the start, recreating the test's directory after the test has deleted it
            Map.of("OBD_CDS_DIR", dir.resolve("cds").toString(), "OBD_ARCHIVE", "off"));
    daemon.awaitCondition(
        "serving on " + socket,
        SnapshotterDaemon.READY_DEADLINE.multipliedBy(2),
        () -> SnapshotterDaemon.accepts(socket));
  }

  /**
   * Writes {@value #IMAGES} images of {@value #LAYERS} committed layers each, with the labels CRI's
   * pull gives them, and {@value #LARGE} snapshots with 16 labels of 4,000 bytes (64 KB of labels
   * each, 96 MB in all).
   */
  private static void fill(Path db) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      c.setAutoCommit(false);
      try (PreparedStatement insert =
          c.prepareStatement(
              "INSERT INTO snapshots(id, key, parent_id, kind, labels, created_ns, updated_ns,"
                  + " usage_size, usage_inodes, storage_type, device)"
                  + " VALUES (?, ?, ?, 3, ?, ?, ?, 4096, 1, 1, '')")) {
        long id = 0;
        for (int image = 0; image < IMAGES; image++) {
          long parent = 0;
          for (int layer = 0; layer < LAYERS; layer++) {
            id = id(image, layer);
            insert.setLong(1, id);
            insert.setString(2, chainId(image, layer));
            if (parent == 0) {
              insert.setNull(3, java.sql.Types.INTEGER);
            } else {
              insert.setLong(3, parent);
            }
            insert.setString(4, json(criLabels(image, layer)));
            insert.setLong(5, 1_700_000_000_000_000_000L + id);
            insert.setLong(6, 1_700_000_000_000_000_000L + id);
            insert.addBatch();
            parent = id;
          }
          if (image % 500 == 0) {
            insert.executeBatch();
          }
        }
        Random random = new Random(42);
        for (int i = 0; i < LARGE; i++) {
          id++;
          StringJoiner labels = new StringJoiner(",", "{", "}");
          for (int k = 0; k < 16; k++) {
            byte[] value = new byte[2000];
            random.nextBytes(value);
            labels.add("\"k" + k + "\":\"" + HexFormat.of().formatHex(value) + "\"");
          }
          insert.setLong(1, id);
          insert.setString(2, "huge-" + i);
          insert.setNull(3, java.sql.Types.INTEGER);
          insert.setString(4, labels.toString());
          insert.setLong(5, 1_700_000_000_000_000_000L + id);
          insert.setLong(6, 1_700_000_000_000_000_000L + id);
          insert.addBatch();
        }
        insert.executeBatch();
      }
      c.commit();
      try (Statement s = c.createStatement()) {
        s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
      }
    }
  }

  /** The id of an image's layer in the filled store. */
  private static long id(int image, int layer) {
    return 1_001 + (long) image * LAYERS + layer;
  }

  private static String chainId(int image, int layer) {
    return digest("chain", image, layer);
  }

  private static String digest(String kind, int image, int layer) {
    return "sha256:"
        + HexFormat.of()
            .formatHex(
                sha256(
                    (kind + "/" + image + "/" + layer)
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  private static byte[] sha256(byte[] in) {
    try {
      return java.security.MessageDigest.getInstance("SHA-256").digest(in);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** What CRI sends on a layer's Prepare, as stored on the committed layer. */
  private static Map<String, String> criLabels(int image, int layer) {
    StringJoiner later = new StringJoiner(",");
    for (int l = layer; l < LAYERS; l++) {
      later.add(digest("layer", image, l));
    }
    return Map.of(
        "containerd.io/snapshot.ref", chainId(image, layer),
        "containerd.io/snapshot/cri.image-ref", "registry.example.com/team/model-" + image + ":v1",
        "containerd.io/snapshot/cri.layer-digest", digest("layer", image, layer),
        "containerd.io/snapshot/cri.manifest-digest", digest("manifest", image, 0),
        "containerd.io/snapshot/cri.image-layers", later.toString());
  }

  private static String json(Map<String, String> labels) {
    StringJoiner j = new StringJoiner(",", "{", "}");
    new java.util.TreeMap<>(labels).forEach((k, v) -> j.add("\"" + k + "\":\"" + v + "\""));
    return j.toString();
  }
}
