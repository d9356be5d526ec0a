package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.support.ContainerdMounts;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.TestImages;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Containers with their own writable OverlayBD device (rwMode {@code dir} and {@code dev}, chosen
 * per container with the {@code overlaybd.writable} snapshotter label), sealing such a container
 * into a layer, a build from scratch on a fresh formatted device, a writable container after a
 * simulated reboot, and I/O trace recording asked for by container labels. Devices are served by
 * obd-backstore through nbdfuse and loop devices (this kernel has no nbd module).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OverlayBdWritableEndToEndTest {
  private static final String NS = "k8s.io";
  private static final String WRITABLE = "containerd.io/snapshot/overlaybd.writable";
  private E2eEnvironment env;
  private String ref;
  private Path trace;

  @BeforeAll
  void start() throws Exception {
    Requirements.requireCommand("nbdfuse");
    env = E2eEnvironment.startWithBackstore("obd-rw", "");
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

  private List<DeviceInfo> devices() throws Exception {
    return new BackstoreClient(env.backstoreSocket()).list(Duration.ofSeconds(10));
  }

  /**
   * Waits until the backstore serves no device. containerd removes snapshots in its garbage
   * collection, after the ctr command that dropped them has returned.
   */
  private void awaitNoDevices(String why) throws Exception {
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!devices().isEmpty() && System.nanoTime() < end) {
      Thread.sleep(100);
    }
    assertThat(devices())
        .as(
            why
                + "\ncontainerd log:\n"
                + env.containerd.logTail(20)
                + "\nobd-snapshotter log:\n"
                + env.daemon().logTail(30))
        .isEmpty();
  }

  /** Our snapshot behind containerd's key {@code key} in the k8s.io namespace. */
  private Info snapshotOf(String key) {
    List<Info> found = snapshots().list("name~=\"^k8s.io/[0-9]+/" + key + "$\"");
    assertThat(found).as("snapshot " + key).hasSize(1);
    return found.get(0);
  }

  private Path dirOf(String key) throws Exception {
    // the id is the directory whose config names this snapshot's writable layer
    try (var dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      for (Path d : dirs.toList()) {
        Path config = d.resolve("block/config.v1.json");
        if (Files.exists(config) && Files.readString(config).contains("writable_data")) {
          if (snapshotOf(key).getLabelsMap().containsKey(WRITABLE)) {
            return d;
          }
        }
      }
    }
    throw new AssertionError("no writable snapshot directory for " + key);
  }

  @Test
  @Order(1)
  void aDirModeContainerWritesToItsOwnDeviceAndCommitSealsIt() throws Exception {
    String out =
        ctr(
            "run",
            "--snapshotter",
            SNAPSHOTTER,
            "--snapshotter-label",
            WRITABLE + "=dir",
            ref,
            "rw-dir",
            "/bin/sh",
            "-c",
            "echo written > /written; cat /written /data/id; grep ' / ' /proc/mounts | cut -d' ' -f3");
    assertThat(out)
        .as("the root is the container's own ext4 device, not overlayfs")
        .isEqualTo("written\nimage content\next4\n");
    Info info = snapshotOf("rw-dir");
    assertThat(info.getLabelsMap()).containsEntry(WRITABLE, "dir");
    Path dir = dirOf("rw-dir");
    assertThat(Files.size(dir.resolve("block/writable_data")))
        .as("the container's writes went to its writable layer")
        .isGreaterThan(4096);
    assertThat(devices())
        .as("only the container's own device, writable; the image's shared one is not needed")
        .singleElement()
        .satisfies(d -> assertThat(d.readOnly()).isFalse());

    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "commit", "sealed-dir", "rw-dir");
    assertThat(Files.exists(dir.resolve("fs/overlaybd.sealed"))).isTrue();
    assertThat(Files.exists(dir.resolve("block/writable_data"))).isFalse();
    assertThat(Files.exists(dir.resolve("block/writable_index"))).isFalse();
    assertThat(devices()).as("commit detached the writable device").isEmpty();
    Info sealed = snapshotOf("sealed-dir");
    assertThat(sealed.getLabelsMap())
        .containsEntry(
            "containerd.io/snapshot/overlaybd.localcommitpath",
            dir.resolve("fs/overlaybd.sealed").toString())
        .doesNotContainKey(WRITABLE);

    // a container on the sealed layer sees what the first one wrote, on top of the image
    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "view", "on-sealed", "sealed-dir");
    List<Mount> mounts = snapshots().mounts(snapshotOf("on-sealed").getName());
    Path target = Files.createDirectories(env.workDir("on-sealed").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(mounts, target);
      assertThat(Files.readString(target.resolve("written"))).isEqualTo("written\n");
      assertThat(Files.readString(target.resolve("data/id"))).isEqualTo("image content\n");
    }
    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "rm", "on-sealed");
    env.containerd.ctrResult(NS, "containers", "rm", "rw-dir");
    ctr("snapshots", "--snapshotter", SNAPSHOTTER, "rm", "sealed-dir");
    awaitNoDevices("removing the sealed layer detached its device");
    // its directory goes right after its device, in the same Remove
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (Files.exists(dir) && System.nanoTime() < end) {
      Thread.sleep(50);
    }
    assertThat(Files.exists(dir)).as("the removed layer's directory").isFalse();
  }

  @Test
  @Order(2)
  void aDevModeContainerGetsTheDeviceItselfAndContainerdMountsIt() throws Exception {
    String out =
        ctr(
            "run",
            "--rm",
            "--snapshotter",
            SNAPSHOTTER,
            "--snapshotter-label",
            WRITABLE + "=dev",
            ref,
            "rw-dev",
            "/bin/sh",
            "-c",
            "echo dev > /d; cat /d /data/id; grep ' / ' /proc/mounts | cut -d' ' -f3");
    assertThat(out).isEqualTo("dev\nimage content\next4\n");
    awaitNoDevices("removing the container detached its device");
    assertThat(snapshots().list("labels.\"" + WRITABLE + "\"")).isEmpty();
  }

  @Test
  @Order(3)
  void aBuildFromScratchGetsAFreshFormattedDevice() throws Exception {
    List<Mount> mounts =
        snapshots()
            .prepare(
                "scratch",
                "",
                Map.of(WRITABLE, "dir", "containerd.io/snapshot/overlaybd/vsize", "1"));
    assertThat(mounts).singleElement().satisfies(m -> assertThat(m.getType()).isEqualTo("bind"));
    Path target = Files.createDirectories(env.workDir("scratch").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(mounts, target);
      Files.writeString(target.resolve("built"), "from scratch\n");
      String[] fs =
          dev.obd.testsupport.Mounts.run(
                  List.of("stat", "-f", "-c", "%T %b %S", target.toString()), null)
              .strip()
              .split(" ");
      assertThat(fs[0])
          .as("a fresh ext4 made by mkfs; daemon log:\n" + env.daemon().logTail(40))
          .isEqualTo("ext2/ext3");
      assertThat(Long.parseLong(fs[1]) * Long.parseLong(fs[2]))
          .as("of the vsize label's 1 GiB")
          .isBetween(900L << 20, 1L << 30);
    }
    snapshots().commit("scratch-layer", "scratch");
    List<Mount> on = snapshots().prepare("on-scratch", "scratch-layer");
    Path root2 = Files.createDirectories(env.workDir("on-scratch").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(on, root2);
      assertThat(Files.readString(root2.resolve("built"))).isEqualTo("from scratch\n");
    }
    snapshots().remove("on-scratch");
    snapshots().remove("scratch-layer");
    assertThat(devices()).isEmpty();
  }

  @Test
  @Order(4)
  void aWritableContainerComesBackAfterASimulatedReboot() throws Exception {
    String script = "cat /state 2>/dev/null || echo none; echo kept > /state";
    String first =
        ctr(
            "run",
            "--snapshotter",
            SNAPSHOTTER,
            "--snapshotter-label",
            WRITABLE + "=dir",
            ref,
            "reboot-rw",
            "/bin/sh",
            "-c",
            script);
    assertThat(first).isEqualTo("none\n");
    // the reboot: the snapshotter dies, mounts and block devices are gone
    env.daemon().kill9();
    Containerd.unmountBelow(env.daemon().root());
    BackstoreClient backstore = new BackstoreClient(env.backstoreSocket());
    for (DeviceInfo d : backstore.list(Duration.ofSeconds(10))) {
      backstore.remove(d.id(), Duration.ofSeconds(60));
    }
    env.killAndRestartDaemon();
    assertThat(ctr("tasks", "start", "reboot-rw"))
        .as("the container's own writes survived on its writable layer")
        .isEqualTo("kept\n");
    ctr("containers", "rm", "reboot-rw");
    awaitNoDevices("removing the container detached its device");
  }

  @Test
  @Order(5)
  void containerLabelsRecordAnIoTraceOfTheImage() throws Exception {
    // trace files must be in the snapshotter's recordTraceDir, by default <root>/record-trace
    trace = Files.createFile(env.daemon().root().resolve("record-trace").resolve("trace"));
    String out =
        ctr(
            "run",
            "--rm",
            "--snapshotter",
            SNAPSHOTTER,
            "--snapshotter-label",
            "containerd.io/snapshot/overlaybd/record-trace=yes",
            "--snapshotter-label",
            "containerd.io/snapshot/overlaybd/record-trace-path=" + trace,
            ref,
            "tracing",
            "/bin/cat",
            "/data/id");
    assertThat(out).isEqualTo("image content\n");
    Files.delete(trace.resolveSibling("trace.lock")); // upstream's signal: recording is done
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!Files.exists(trace.resolveSibling("trace.ok"))) {
      assertThat(System.nanoTime()).as("trace.ok appears").isLessThan(end);
      Thread.sleep(100);
    }
    assertThat(Files.size(trace)).as("the reads were recorded").isGreaterThan(0);

    String top = imageTop();
    assertThatThrownBy(
            () ->
                snapshots()
                    .prepare(
                        "bad-trace",
                        top,
                        Map.of(
                            "containerd.io/snapshot/overlaybd/record-trace", "yes",
                            "containerd.io/snapshot/overlaybd/record-trace-path", "../etc/x")))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains("record-trace-path");
            });
  }

  @Test
  @Order(6)
  void anAccelerationLayerOnTopOfTheImageBecomesItsTraceLayer() throws Exception {
    List<Mount> extract =
        snapshots()
            .prepare(
                "accel-extract",
                imageTop(),
                Map.of(
                    "containerd.io/snapshot.ref", "accel-chain",
                    "containerd.io/snapshot/overlaybd/acceleration-layer", "yes"));
    assertThat(extract)
        .as("only the trace is unpacked, into an empty directory: no device for that")
        .singleElement()
        .satisfies(m -> assertThat(m.getType()).isEqualTo("bind"));
    Path root = Files.createDirectories(env.workDir("accel").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(extract, root);
      Files.copy(trace, root.resolve("trace"));
    }
    snapshots().commit("accel-layer", "accel-extract");
    assertThat(snapshots().stat("accel-layer").getLabelsMap())
        .containsEntry("containerd.io/snapshot/overlaybd/acceleration-layer", "yes");
    JsonNode config = configContaining("\"accelerationLayer\":true");
    assertThat(config.get("lowers")).as("the image's two layers, then the trace layer").hasSize(3);
    assertThat(config.get("lowers").get(2).get("dir").asText()).endsWith("/fs");

    List<Mount> on = snapshots().prepare("on-accel", "accel-layer");
    Path root2 = Files.createDirectories(env.workDir("on-accel").resolve("root"));
    try (ContainerdMounts m = new ContainerdMounts()) {
      m.mountAll(on, root2);
      assertThat(Files.readString(root2.resolve("data/id")))
          .as("the trace layer is not stacked: the image reads as before")
          .isEqualTo("image content\n");
      assertThat(root2.resolve("trace")).doesNotExist();
    }
    snapshots().remove("on-accel");
    snapshots().remove("accel-layer");
  }

  /** The image's top layer: the remote snapshot no other snapshot has as parent. */
  private String imageTop() {
    List<Info> all = snapshots().list();
    return all.stream()
        .filter(i -> i.getLabelsMap().containsKey("containerd.io/snapshot/remote"))
        .map(Info::getName)
        .filter(n -> all.stream().noneMatch(i -> i.getParent().equals(n)))
        .findFirst()
        .orElseThrow();
  }

  private JsonNode configContaining(String text) throws Exception {
    try (var dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      for (Path d : dirs.toList()) {
        Path config = d.resolve("block/config.v1.json");
        if (Files.exists(config) && Files.readString(config).contains(text)) {
          return new ObjectMapper().readTree(config.toFile());
        }
      }
    }
    throw new AssertionError("no config.v1.json contains " + text);
  }
}
