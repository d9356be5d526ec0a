package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.it.e2e.support.WritingContainer;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * OverlayBD images made by {@code obdctl convert} from the tests' multi-layer images, pulled lazily
 * through kubelet's CRI path and run; an image mixing OverlayBD and tar layers; a running container
 * across a snapshotter restart; a simulated reboot; image removal detaching the device. The steps
 * build on each other, in order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OverlayBdLifecycleEndToEndTest {
  private static final String NS = "k8s.io";
  private E2eEnvironment env;
  private OciImage tree;
  private String treeRef;

  @BeforeAll
  void start() throws Exception {
    Requirements.requireCommand("nbdfuse");
    env = E2eEnvironment.startWithBackstore("obd-life", "");
    tree = TestImages.tree("unused");
    Path converted = ObdImages.convert(tree, env.workDir("convert-tree"), "v1");
    treeRef = env.registry.host() + "/obd/tree:v1";
    ObdImages.push(converted, "v1", treeRef);
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

  private List<DeviceInfo> devices() throws Exception {
    return new BackstoreClient(env.backstoreSocket()).list(Duration.ofSeconds(10));
  }

  @Test
  @Order(1)
  void aConvertedImagePulledLazilyShowsExactlyTheLayeredTree() throws Exception {
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(treeRef);
    }
    assertThat(env.daemon().client().list("labels.\"containerd.io/snapshot/remote\""))
        .as("all four converted layers are remote snapshots")
        .hasSize(4);
    String out =
        env.containerd.runContainer(
            NS,
            SNAPSHOTTER,
            treeRef,
            "tree-list",
            "/bin/sh",
            "-c",
            ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(tree.layers()).listing("data"));
  }

  @Test
  @Order(2)
  void anImageMixingOverlayBdAndTarLayersRuns() throws Exception {
    OciImage base = TestImages.small("unused", "from the OverlayBD layers");
    Path work = env.workDir("mixed");
    Path layout = ObdImages.convert(base, work, "v1");
    ObdImages.appendOrdinaryLayer(
        layout,
        "v1",
        new TarLayer()
            .file("data/added", 0644, "from the tar layer on top\n")
            .whiteout("etc/motd"));
    String ref = env.registry.host() + "/obd/mixed:v1";
    ObdImages.push(layout, "v1", ref);
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(ref);
    }
    String out =
        env.containerd.runContainer(
            NS, SNAPSHOTTER, ref, "mixed", "/bin/sh", "-c", "cat /data/id /data/added; ls /etc");
    assertThat(out).isEqualTo("from the OverlayBD layers\nfrom the tar layer on top\n");
  }

  @Test
  @Order(3)
  void anImageConvertedToErofsRunsWithExactlyTheLayeredTree() throws Exception {
    Path converted =
        ObdImages.convert(tree, env.workDir("convert-erofs"), "v1", "--fstype", "erofs");
    String ref = env.registry.host() + "/obd/tree-erofs:v1";
    ObdImages.push(converted, "v1", ref);
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(ref);
    }
    String out =
        env.containerd.runContainer(
            NS,
            SNAPSHOTTER,
            ref,
            "erofs-tree-list",
            "/bin/sh",
            "-c",
            ExpectedTree.listScript("data")
                + "; echo written > /data/new-on-top && cat /data/new-on-top");
    List<String> lines = new java.util.ArrayList<>(out.lines().toList());
    assertThat(lines.remove(lines.size() - 1))
        .as("the container writes above the read-only image")
        .isEqualTo("written");
    assertThat(ExpectedTree.parse(String.join("\n", lines) + "\n"))
        .containsExactlyElementsOf(ExpectedTree.of(tree.layers()).listing("data"));
    assertThat(Files.readString(Path.of("/proc/self/mounts")))
        .as("the snapshotter mounted the image's device as erofs")
        .containsPattern(" erofs ro[,\\s]");
  }

  @Test
  @Order(4)
  void aRunningContainerKeepsWritingAcrossASnapshotterRestart() throws Exception {
    try (WritingContainer writer =
        WritingContainer.start(env.containerd, NS, SNAPSHOTTER, treeRef, "writer")) {
      writer.awaitGrowth();
      env.restartDaemon();
      assertThat(ctr("tasks", "ls")).containsPattern(writer.id() + "\\s+\\d+\\s+RUNNING");
      writer.awaitGrowth();
      assertThat(
              env.containerd.runContainer(
                  NS, SNAPSHOTTER, treeRef, "after-restart", "/bin/cat", "/data/keep"))
          .isEqualTo("kept, then changed\n");
    }
  }

  @Test
  @Order(5)
  void afterASimulatedRebootContainersStartAgain() throws Exception {
    // a reboot: containers die, the snapshotter dies, mounts and block devices are gone
    env.daemon().kill9();
    Containerd.unmountBelow(env.daemon().root());
    BackstoreClient backstore = new BackstoreClient(env.backstoreSocket());
    for (DeviceInfo d : backstore.list(Duration.ofSeconds(10))) {
      backstore.remove(d.id(), Duration.ofSeconds(60));
    }
    assertThat(devices()).isEmpty();
    env.killAndRestartDaemon();
    assertThat(
            env.containerd.runContainer(
                NS, SNAPSHOTTER, treeRef, "after-reboot", "/bin/cat", "/data/keep"))
        .isEqualTo("kept, then changed\n");
    assertThat(devices()).as("the image's device was attached again on demand").hasSize(1);
  }

  @Test
  @Order(6)
  void removingTheImagesDetachesTheirDevicesAndLeavesNothing() throws Exception {
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      for (var image : cri.list()) {
        cri.remove(image.getId());
      }
    }
    assertThat(devices()).isEmpty();
    List<Info> left = env.daemon().client().list("name~=^k8s.io/");
    assertThat(left).isEmpty();
    env.daemon().client().cleanup();
    try (Stream<Path> dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      assertThat(dirs.toList()).isEmpty();
    }
  }
}
