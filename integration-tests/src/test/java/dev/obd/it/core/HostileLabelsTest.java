package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.testsupport.Requirements;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Labels as an image's author or a container's creator can set them, sent to the daemon on its real
 * socket: layer annotations reach Prepare through CRI unchanged, container labels come from {@code
 * --snapshotter-label} or pod annotations. None of them may choose a mount option, a host path or a
 * command argument, or rewrite what a committed layer is; each gets the gRPC code containerd
 * expects, naming the label, and the daemon keeps serving.
 *
 * <p>No obd-backstore runs here ({@code backstoreAddress} names a socket nobody serves): what is
 * tested happens before a device is attached, and a Prepare that passes the checks fails
 * UNAVAILABLE at the attach, which shows how far it got.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileLabelsTest {
  private static final String FS_TYPE = "containerd.io/snapshot/overlaybd/blob-fs-type";
  private static final String TRACE = "containerd.io/snapshot/overlaybd/record-trace";
  private static final String TRACE_PATH = "containerd.io/snapshot/overlaybd/record-trace-path";
  private static final String SNAPSHOT_REF = "containerd.io/snapshot.ref";
  private static final String BLOB_DIGEST = "containerd.io/snapshot/overlaybd/blob-digest";
  private static final String BLOB_SIZE = "containerd.io/snapshot/overlaybd/blob-size";
  private static final String IMAGE_REF = "containerd.io/snapshot/image-ref";
  private static final String REMOTE = "containerd.io/snapshot/remote";
  private static final String LOCAL_COMMIT_PATH =
      "containerd.io/snapshot/overlaybd.localcommitpath";
  private static final List<String> HOSTILE_FS_TYPES =
      List.of("ext4;ro,remount,exec", "ext4;;-d /etc -F", "../../../../tmp/evil");

  private Path base;
  private SnapshotterDaemon daemon;
  private SnapshotsClient client;
  private int layers;

  @BeforeAll
  void start() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-labels-");
    Path config = base.resolve("config.json");
    Files.writeString(
        config,
        "{\"attacher\": \"nbd\", \"backstoreAddress\": \""
            + base.resolve("no-backstore.sock")
            + "\"}");
    daemon =
        SnapshotterDaemon.start(
            base.resolve("root"), base.resolve("obd.sock"), "--config", config.toString());
    client = daemon.client();
    client.prepare("base-active", "");
    client.commit("base", "base-active");
    client.prepare("active", "base");
  }

  @AfterEach
  void daemonStillServes() {
    assertThat(client.stat("base").getKind()).isEqualTo(Kind.COMMITTED);
    assertThat(client.stat("active").getKind()).isEqualTo(Kind.ACTIVE);
  }

  @AfterAll
  void stop() throws IOException {
    if (daemon != null) {
      String log = daemon.logTail(100000);
      assertThat(log).doesNotContain("UNKNOWN");
      assertThat(log.lines().mapToInt(String::length).max().orElse(0))
          .as("longest log line")
          .isLessThan(4096);
      assertThat(daemon.stop()).isZero();
    }
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  private static void assertCode(Status.Code code, String messagePart, Runnable call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).as(e.getMessage()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(messagePart);
            });
  }

  /** The labels CRI sends for a layer of an OverlayBD image in the registry. */
  private static Map<String, String> remoteLayer(String chainId) {
    Map<String, String> labels = new HashMap<>();
    labels.put(SNAPSHOT_REF, chainId);
    labels.put(BLOB_DIGEST, "sha256:" + "ab".repeat(32));
    labels.put(BLOB_SIZE, "642560");
    labels.put(IMAGE_REF, "127.0.0.1:5000/hello:obd");
    return labels;
  }

  /** Pulls a one-layer OverlayBD image: the layer is committed as a remote snapshot. */
  private String pullLayer(Map<String, String> extra) {
    String chain = "sha256:layer-" + layers++;
    Map<String, String> labels = remoteLayer(chain);
    labels.putAll(extra);
    assertCode(
        Status.Code.ALREADY_EXISTS, chain, () -> client.prepare("extract-" + chain, "", labels));
    assertThat(client.stat(chain).getKind()).isEqualTo(Kind.COMMITTED);
    return chain;
  }

  private List<Path> configs() throws IOException {
    try (Stream<Path> dirs = Files.list(daemon.root().resolve("snapshots"))) {
      return dirs.map(d -> d.resolve("block/config.v1.json")).filter(Files::exists).toList();
    }
  }

  @Test
  void hostileBlobFsTypesAreInvalidArgumentsNamingTheLabelOnEveryCall() throws IOException {
    int configsBefore = configs().size();
    for (int i = 0; i < HOSTILE_FS_TYPES.size(); i++) {
      Map<String, String> hostile = Map.of(FS_TYPE, HOSTILE_FS_TYPES.get(i));
      String n = "fs-" + i;
      assertCode(Status.Code.INVALID_ARGUMENT, FS_TYPE, () -> client.prepare(n, "", hostile));
      assertCode(Status.Code.INVALID_ARGUMENT, FS_TYPE, () -> client.view(n, "base", hostile));
      assertCode(Status.Code.INVALID_ARGUMENT, FS_TYPE, () -> client.commit(n, "active", hostile));
      Info update = client.stat("active").toBuilder().putAllLabels(hostile).build();
      assertCode(
          Status.Code.INVALID_ARGUMENT, FS_TYPE, () -> client.update(update, "labels." + FS_TYPE));
      String chain = "sha256:hostile-" + i;
      Map<String, String> layer = remoteLayer(chain);
      layer.putAll(hostile);
      assertCode(
          Status.Code.INVALID_ARGUMENT, FS_TYPE, () -> client.prepare("extract-" + n, "", layer));
      assertCode(Status.Code.NOT_FOUND, "hostile", () -> client.stat(chain));
      assertCode(Status.Code.NOT_FOUND, n, () -> client.stat(n));
    }
    assertThat(client.stat("active").getLabelsMap()).doesNotContainKey(FS_TYPE);
    assertThat(configs())
        .as("no config.v1.json written from a refused label")
        .hasSize(configsBefore);
  }

  @Test
  void anAllowedBlobFsTypeIsStoredWithTheLayer() {
    String chain = pullLayer(Map.of(FS_TYPE, "xfs;nouuid,norecovery"));
    assertThat(client.stat(chain).getLabelsMap()).containsEntry(FS_TYPE, "xfs;nouuid,norecovery");
  }

  @Test
  void labelsThatDefineACommittedLayerCannotBeUpdated() {
    String chain = pullLayer(Map.of(FS_TYPE, "ext4"));
    Info before = client.stat(chain);
    Map<String, String> changes =
        Map.of(
            BLOB_DIGEST, "sha256:" + "cd".repeat(32),
            IMAGE_REF, "127.0.0.1:5000/other:obd",
            FS_TYPE, "xfs",
            SNAPSHOT_REF, "sha256:other",
            LOCAL_COMMIT_PATH, "/etc/shadow");
    for (Map.Entry<String, String> c : changes.entrySet()) {
      Info changed = before.toBuilder().putLabels(c.getKey(), c.getValue()).build();
      assertCode(
          Status.Code.FAILED_PRECONDITION,
          c.getKey(),
          () -> client.update(changed, "labels." + c.getKey()));
      assertCode(Status.Code.FAILED_PRECONDITION, c.getKey(), () -> client.update(changed));
    }
    Info removed = before.toBuilder().removeLabels(REMOTE).build();
    assertCode(
        Status.Code.FAILED_PRECONDITION, REMOTE, () -> client.update(removed, "labels." + REMOTE));
    assertCode(Status.Code.FAILED_PRECONDITION, REMOTE, () -> client.update(removed, "labels"));
    assertThat(client.stat(chain).getLabelsMap()).isEqualTo(before.getLabelsMap());

    // everything else, and repeating a defining label's value, is an ordinary Update
    Info other = before.toBuilder().putLabels("containerd.io/gc.ref.snapshot", "x").build();
    client.update(other, "labels.containerd.io/gc.ref.snapshot", "labels." + BLOB_DIGEST);
    client.update(other);
    assertThat(client.stat(chain).getLabelsMap())
        .containsEntry("containerd.io/gc.ref.snapshot", "x")
        .containsEntry(BLOB_DIGEST, before.getLabelsMap().get(BLOB_DIGEST));
  }

  @Test
  void traceFilesOutsideTheTraceDirectoryAreRefusedBeforeAnythingIsWritten() throws IOException {
    String chain = pullLayer(Map.of());
    Path traces = daemon.root().resolve("record-trace");
    assertThat(traces).isDirectory();
    Path escape = Files.createSymbolicLink(traces.resolve("escape"), Path.of("/etc/shadow"));
    for (String path :
        List.of("/etc/shadow", traces + "/../../../../etc/shadow", escape.toString())) {
      assertCode(
          Status.Code.INVALID_ARGUMENT,
          TRACE_PATH,
          () -> client.prepare("tracing", chain, Map.of(TRACE, "yes", TRACE_PATH, path)));
      assertCode(Status.Code.NOT_FOUND, "tracing", () -> client.stat("tracing"));
    }
    for (Path config : configs()) {
      assertThat(config).content().doesNotContain("recordTracePath");
    }

    // a file inside is taken: the image's config names it; only the attach fails here
    Path trace = Files.createFile(traces.resolve("app.trace"));
    assertCode(
        Status.Code.UNAVAILABLE,
        "attach",
        () -> client.prepare("tracing", chain, Map.of(TRACE, "yes", TRACE_PATH, trace.toString())));
    assertThat(configs().stream().filter(c -> contains(c, "\"recordTracePath\"")).toList())
        .hasSize(1)
        .allSatisfy(c -> assertThat(c).content().contains(trace.toRealPath().toString()));
    assertCode(Status.Code.NOT_FOUND, "tracing", () -> client.stat("tracing"));
  }

  private static boolean contains(Path file, String text) {
    try {
      return Files.readString(file).contains(text);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** {@code n} labels of 4093 bytes each, each within containerd's limit. */
  private static Map<String, String> bigLabels(String prefix, int n) {
    Map<String, String> labels = new HashMap<>();
    for (int i = 0; i < n; i++) {
      labels.put(String.format("%s%02d", prefix, i), "v".repeat(4093 - prefix.length() - 2));
    }
    return labels;
  }

  @Test
  void labelsBeyond64KibTogetherAreInvalidOnEveryCall() {
    Map<String, String> tooMuch = bigLabels("k", 17);
    String limit = "more than the 65536 bytes";
    assertCode(Status.Code.INVALID_ARGUMENT, limit, () -> client.prepare("big", "", tooMuch));
    assertCode(Status.Code.INVALID_ARGUMENT, limit, () -> client.view("big", "base", tooMuch));
    assertCode(Status.Code.INVALID_ARGUMENT, limit, () -> client.commit("big", "active", tooMuch));
    assertCode(Status.Code.NOT_FOUND, "big", () -> client.stat("big"));

    client.prepare("big", "", bigLabels("k", 15));
    Info grown = Info.newBuilder().setName("big").putAllLabels(bigLabels("m", 2)).build();
    assertCode(
        Status.Code.INVALID_ARGUMENT,
        limit,
        () -> client.update(grown, "labels.m00", "labels.m01"));
    assertThat(client.stat("big").getLabelsCount()).isEqualTo(15);
    client.update(grown, "labels.m00");
    assertThat(client.stat("big").getLabelsCount()).isEqualTo(16);
    client.remove("big");
  }

  @Test
  void aKeyOfAMebibyteGetsTheRealCodeWithAShortMessage() {
    String huge = "k".repeat(1 << 20);
    assertCode(Status.Code.NOT_FOUND, "characters cut", () -> client.stat(huge));
    assertCode(Status.Code.NOT_FOUND, "kkk", () -> client.prepare("small", huge));
    assertCode(Status.Code.NOT_FOUND, "kkk", () -> client.remove(huge));
    client.prepare(huge, "");
    assertThatThrownBy(() -> client.prepare(huge, ""))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
              assertThat(e.getStatus().getDescription()).hasSizeLessThan(1100);
            });
    client.remove(huge);
  }
}
