package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.it.e2e.support.WritingContainer;
import dev.obd.it.support.ContainerdMounts;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.ContainerdInstallation;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestClassOrder;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The same end-to-end checks on every containerd a node may run: bookworm's 1.6.20 (the system
 * package), 1.7.24 from Debian trixie and 2.1.9 from Debian sid (unpacked next to it by
 * test-support/fetch-debian-packages, each with its own ctr and shim). Each version gets its own
 * obd-snapshotter, obd-backstore and containerd; the registry and the images pushed to it are
 * shared, so each image is built and converted once. Within a version the checks run in order on
 * one containerd: every lazy pull before the first pull that downloads OverlayBD layer blobs into
 * containerd's content store (a pull served from local content would fetch nothing either), the
 * restart and the final removal last.
 *
 * <p>containerd 2.x runs with the configuration daemon-config ships for it: CRI pulls through the
 * transfer service. It also gets the checks only 2.x has: {@code ctr images pull} through the
 * transfer service, CRI in the local pull mode an older 2.x configuration falls back to, and Commit
 * with a parent (containerd 2.2 sends it for rebase; 2.1.9 does not, so our own client sends it to
 * the daemon 2.1.9 pulled into).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestClassOrder(ClassOrderer.OrderAnnotation.class)
class ContainerdMatrixEndToEndTest {
  private static final String CRI_NS = "k8s.io";
  private static final String FALLBACK = "Falling back to local image pull mode";

  private Path work;
  private LocalRegistry registry;
  private OciImage tree;
  private Path treeTar;
  private String treeRef;
  private List<String> treeListing;
  private String helloRef;
  private List<String> helloLayers;
  private String obdTreeRef;
  private List<String> obdTreeLayers;

  @BeforeAll
  void pushImages() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    work = Files.createTempDirectory("obd-matrix-");
    registry = LocalRegistry.start(work.resolve("registry"));
    tree = TestImages.tree("docker.io/obdtest/matrix-tree:import");
    treeTar = tree.writeTar(Files.createDirectories(work.resolve("import")), "import");
    treeRef =
        tree.push(
            Files.createDirectories(work.resolve("tree")), registry.host(), "matrix/tree", "v1");
    treeListing = ExpectedTree.of(tree.layers()).listing("data");
    helloRef = registry.host() + "/hello:amd64-converted";
    ObdImages.push(hello, "amd64-converted", helloRef);
    helloLayers = ObdImages.layerDigests(hello, "amd64-converted");
    Path converted =
        ObdImages.convert(tree, Files.createDirectories(work.resolve("convert")), "v1");
    obdTreeRef = registry.host() + "/matrix/obd-tree:v1";
    ObdImages.push(converted, "v1", obdTreeRef);
    obdTreeLayers = ObdImages.layerDigests(converted, "v1");
  }

  @AfterAll
  void stopRegistry() throws IOException {
    if (registry != null) {
      registry.close();
    }
    if (work != null) {
      Layers.deleteTree(work);
    }
  }

  /** GET requests the registry has served so far for any of {@code layers}. */
  private long layerGets(List<String> layers) throws IOException {
    return Files.readAllLines(registry.log()).stream()
        .filter(l -> l.contains("\"GET /v2/"))
        .filter(l -> layers.stream().anyMatch(d -> l.contains("/blobs/" + d + " ")))
        .count();
  }

  @Nested
  @Order(1)
  class OnContainerd16 extends OnEveryVersion {
    @Override
    ContainerdInstallation installation() {
      return ContainerdInstallation.system();
    }
  }

  @Nested
  @Order(2)
  class OnContainerd17 extends OnEveryVersion {
    @Override
    ContainerdInstallation installation() {
      return ContainerdInstallation.unpacked("1.7.24");
    }
  }

  @Nested
  @Order(3)
  class OnContainerd2 extends OnEveryVersion {
    @Override
    ContainerdInstallation installation() {
      return ContainerdInstallation.unpacked("2.1.9");
    }

    @Override
    void assertCriPulledAsConfigured() {
      assertThat(env.containerd.log())
          .as("CRI pulls through the transfer service, as configured")
          .doesNotContain(FALLBACK);
    }

    @Test
    @Order(20)
    void aTransferServicePullOfAnOrdinaryImageShowsTheLayeredTree() {
      String ns = "transfer";
      ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, treeRef);
      assertThat(listData(ns, treeRef, "transfer-tree")).containsExactlyElementsOf(treeListing);
    }

    @Test
    @Order(21)
    void aTransferServicePullOfAnOverlayBdImageFetchesNoLayerBlob() throws Exception {
      String ns = "transfer-obd";
      long before = layerGets(obdTreeLayers);
      ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, obdTreeRef);
      assertThat(layerGets(obdTreeLayers)).as("layer blob GETs during the pull").isEqualTo(before);
      assertThat(listData(ns, obdTreeRef, "transfer-obd-tree"))
          .containsExactlyElementsOf(treeListing);
    }

    @Test
    @Order(22)
    void aCriPullInTheLocalModeOfAnOlderConfigurationIsLazyToo() throws Exception {
      // its own containerd (and so its own content store and snapshotter): the setting is global
      try (E2eEnvironment local =
          E2eEnvironment.builder("matrix-2-local")
              .withBackstore("")
              .containerd(installation())
              .criPull(Containerd.CriPull.LOCAL)
              .registry(registry)
              .start()) {
        long before = layerGets(obdTreeLayers);
        try (CriClient cri = new CriClient(local.containerd.socket())) {
          cri.pull(obdTreeRef);
        }
        assertThat(layerGets(obdTreeLayers))
            .as("layer blob GETs during the pull")
            .isEqualTo(before);
        assertThat(local.containerd.log()).contains(FALLBACK);
        String out =
            local.containerd.runContainer(
                CRI_NS,
                SNAPSHOTTER,
                obdTreeRef,
                "local-tree",
                "/bin/sh",
                "-c",
                ExpectedTree.listScript("data"));
        assertThat(ExpectedTree.parse(out)).containsExactlyElementsOf(treeListing);
      }
    }

    /**
     * containerd 2.2 unpacks a layer with rebase as Prepare without a parent, apply, Commit with
     * the parent. Here the parent is the top layer of the OverlayBD image 2.1.9 pulled lazily (a
     * block layer served by a device); SnapshotterConformanceTest covers the same with ordinary
     * parents and the error cases.
     */
    @Test
    @Order(23)
    void commitWithAParentPutsALayerAppliedWithoutParentOnTopOfALazilyPulledImage()
        throws Exception {
      criPull(obdTreeRef);
      SnapshotsClient client = env.daemon().client();
      String top =
          remoteSnapshot(obdTreeRef, obdTreeLayers.get(obdTreeLayers.size() - 1)).getName();
      Path scratch = env.workDir("rebase");
      Path target = Files.createDirectories(scratch.resolve("applied"));
      try (ContainerdMounts m = new ContainerdMounts()) {
        m.mountAll(client.prepare("rebase/extract", ""), target);
        Files.createDirectories(target.resolve("data"));
        Files.writeString(target.resolve("data/keep"), "rebased on top\n");
        Files.writeString(target.resolve("data/added"), "applied without a parent\n");
      }
      client.commitWithParent("rebase/layer", "rebase/extract", top);
      assertThat(client.stat("rebase/layer").getParent()).isEqualTo(top);

      Path view = Files.createDirectories(scratch.resolve("view"));
      try (ContainerdMounts m = new ContainerdMounts()) {
        m.mountAll(client.view("rebase/view", "rebase/layer"), view);
        assertThat(Files.readString(view.resolve("data/keep"))).isEqualTo("rebased on top\n");
        assertThat(Files.readString(view.resolve("data/added")))
            .isEqualTo("applied without a parent\n");
        assertThat(Files.readString(view.resolve("data/sub/deep/file")))
            .as("the image's layers below")
            .isEqualTo("deep\n");
        assertThat(view.resolve("data/gone")).doesNotExist();
      } finally {
        client.remove("rebase/view");
        client.remove("rebase/layer");
      }
    }
  }

  /** The checks every version gets; a subclass names the containerd. */
  @TestInstance(TestInstance.Lifecycle.PER_CLASS)
  @TestMethodOrder(MethodOrderer.OrderAnnotation.class)
  abstract class OnEveryVersion {
    E2eEnvironment env;

    abstract ContainerdInstallation installation();

    /** What shows that CRI pulled the way the configuration says (nothing to check on 1.x). */
    void assertCriPulledAsConfigured() {}

    @BeforeAll
    void startEnvironment() {
      ContainerdInstallation c = installation();
      env =
          E2eEnvironment.builder("matrix-" + c.version())
              .withBackstore("")
              .containerd(c)
              .registry(registry)
              .start();
    }

    @AfterAll
    void stopEnvironment() {
      if (env != null) {
        env.close();
      }
    }

    String ctr(String ns, String... args) {
      return env.containerd.ctr(ns, args);
    }

    /**
     * {@code ctr images pull} with the unpack on ctr's side: 1.x's only way, {@code --local} on
     * 2.x. It sends the snapshotter no labels, so OverlayBD layer blobs are downloaded whole.
     */
    void clientPull(String ns, String ref) {
      List<String> args =
          new ArrayList<>(List.of("images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER));
      if (installation().pullsThroughTransferService()) {
        args.add("--local");
      }
      args.add(ref);
      ctr(ns, args.toArray(String[]::new));
    }

    void criPull(String ref) {
      try (CriClient cri = new CriClient(env.containerd.socket())) {
        cri.pull(ref);
      }
    }

    /** The listing of /data a container of {@code ref} prints (see {@link ExpectedTree}). */
    List<String> listData(String ns, String ref, String id) {
      return ExpectedTree.parse(
          env.containerd.runContainer(
              ns, SNAPSHOTTER, ref, id, "/bin/sh", "-c", ExpectedTree.listScript("data")));
    }

    /** The remote snapshot obd-snapshotter committed for {@code layer} of {@code ref}. */
    Info remoteSnapshot(String ref, String layer) {
      List<Info> found =
          env.daemon()
              .client()
              .list(
                  "labels.\"containerd.io/snapshot/remote\"==\"remote snapshot\","
                      + "labels.\"containerd.io/snapshot/overlaybd/blob-digest\"==\""
                      + layer
                      + "\"");
      assertThat(found).as("remote snapshot of layer " + layer).hasSize(1);
      assertThat(found.get(0).getLabelsMap())
          .containsEntry("containerd.io/snapshot/cri.image-ref", ref);
      return found.get(0);
    }

    @Test
    @Order(1)
    void anImportedImageRunsWithTheLayeredTree() {
      ctr("default", "images", "import", "--snapshotter", SNAPSHOTTER, treeTar.toString());
      assertThat(listData("default", tree.name(), "import-tree"))
          .containsExactlyElementsOf(treeListing);
    }

    @Test
    @Order(2)
    void aCtrPullOfAnOrdinaryMultiLayerImageRunsWithTheLayeredTree() {
      clientPull("pull", treeRef);
      assertThat(listData("pull", treeRef, "pull-tree")).containsExactlyElementsOf(treeListing);
    }

    @Test
    @Order(3)
    void aCriPullOfHelloWorldObdFetchesNoLayerBlobAndTheContainerSaysHello() throws Exception {
      long before = layerGets(helloLayers);
      criPull(helloRef);
      assertThat(layerGets(helloLayers)).as("layer blob GETs during the pull").isEqualTo(before);
      assertCriPulledAsConfigured();
      remoteSnapshot(helloRef, helloLayers.get(0));
      assertThat(env.containerd.runContainer(CRI_NS, SNAPSHOTTER, helloRef, "hello-cri"))
          .contains("Hello from Docker!");
    }

    @Test
    @Order(4)
    void aCriPullOfAConvertedMultiLayerImageFetchesNoLayerBlobAndShowsTheLayeredTree()
        throws Exception {
      long before = layerGets(obdTreeLayers);
      criPull(obdTreeRef);
      assertThat(layerGets(obdTreeLayers)).as("layer blob GETs during the pull").isEqualTo(before);
      assertCriPulledAsConfigured();
      for (String layer : obdTreeLayers) {
        remoteSnapshot(obdTreeRef, layer);
      }
      assertThat(listData(CRI_NS, obdTreeRef, "cri-tree")).containsExactlyElementsOf(treeListing);
    }

    @Test
    @Order(50)
    void plainCtrPullsOfOverlayBdImagesDownloadTheirBlobsAndRun() throws Exception {
      String ns = "plain";
      long before = layerGets(obdTreeLayers);
      int devices = env.devices().size();
      clientPull(ns, helloRef);
      clientPull(ns, obdTreeRef);
      assertThat(layerGets(obdTreeLayers))
          .as("a pull without labels downloads every layer blob")
          .isGreaterThanOrEqualTo(before + obdTreeLayers.size());
      assertThat(env.devices())
          .as("devices attached while unpacking the layers of two OverlayBD images")
          .hasSize(devices);
      assertThat(env.containerd.runContainer(ns, SNAPSHOTTER, helloRef, "hello-plain"))
          .contains("Hello from Docker!");
      assertThat(listData(ns, obdTreeRef, "plain-tree")).containsExactlyElementsOf(treeListing);
    }

    /**
     * With {@code rwMode} {@code dir} or {@code dev} configured, a plain pull unpacks the layers of
     * an OverlayBD image as layers (1.6 marks those Prepares only by their key), attaching no
     * device, and a container on it gets its own writable device over the image's layers. Upstream
     * gives each extraction snapshot a fresh formatted device instead and unpacks the layer into
     * it; the container then finds only {@code lost+found} and {@code overlaybd.commit}.
     */
    @Test
    @Order(60)
    void withAWritableRwModeAPlainPullUnpacksLayersAndAContainerSeesTheImageAndWrites()
        throws Exception {
      Path config = env.dir.resolve("obd-config.json");
      String original = Files.readString(config);
      try {
        writeRwMode(config, original, "dir");
        String ns = "rw-modes";
        // (the restart's reconnect probe, a parentless snapshot, may hold a writable device of its
        // own for a moment: devices may go, none may come)
        List<String> before = env.devices().stream().map(d -> d.config()).toList();
        clientPull(ns, obdTreeRef);
        assertThat(env.devices().stream().map(d -> d.config()).toList())
            .as("devices attached while unpacking the image's layers with rwMode dir")
            .isSubsetOf(before);
        assertWritableContainerSeesTheImage(ns, "rw-dir");
        writeRwMode(config, original, "dev");
        assertWritableContainerSeesTheImage(ns, "rw-dev");
      } finally {
        Files.writeString(config, original);
        env.restartDaemon();
      }
    }

    private void writeRwMode(Path config, String original, String mode) throws IOException {
      Files.writeString(
          config, original.replaceFirst("\\}\\s*$", ", \"rwMode\": \"" + mode + "\"}"));
      env.restartDaemon();
    }

    private void assertWritableContainerSeesTheImage(String ns, String id) {
      String out =
          env.containerd.runContainer(
              ns,
              SNAPSHOTTER,
              obdTreeRef,
              id,
              "/bin/sh",
              "-c",
              "echo written > /data/new && cat /data/new && " + ExpectedTree.listScript("data"));
      assertThat(out).startsWith("written\n");
      assertThat(ExpectedTree.parse(out.substring("written\n".length())))
          .as("the image's tree under the container's writes (%s)", id)
          .containsAll(treeListing);
    }

    @Test
    @Order(80)
    void aRunningContainerKeepsWritingAcrossASnapshotterRestart() throws Exception {
      criPull(obdTreeRef);
      try (WritingContainer writer =
          WritingContainer.start(env.containerd, CRI_NS, SNAPSHOTTER, obdTreeRef, "writer")) {
        writer.awaitGrowth();
        env.restartDaemon();
        assertThat(ctr(CRI_NS, "tasks", "ls")).containsPattern(writer.id() + "\\s+\\d+\\s+RUNNING");
        writer.awaitGrowth();
        assertThat(
                env.containerd.runContainer(
                    CRI_NS, SNAPSHOTTER, obdTreeRef, "after-restart", "/bin/cat", "/data/keep"))
            .isEqualTo("kept, then changed\n");
      }
    }

    @Test
    @Order(90)
    void removingEveryImageReleasesEveryDeviceMountAndLoopDevice() throws Exception {
      for (String ns : lines(ctr("default", "namespaces", "ls", "-q"))) {
        for (String image : lines(ctr(ns, "images", "ls", "-q"))) {
          ctr(ns, "images", "rm", "--sync", image);
        }
      }
      // containerd's garbage collection removes the snapshots, the snapshotter then detaches
      long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while ((!env.devices().isEmpty() || !env.daemon().client().list().isEmpty())
          && System.nanoTime() < end) {
        Thread.sleep(100);
      }
      assertThat(env.devices())
          .as("devices still attached; obd-snapshotter log:\n" + env.daemon().logTail(30))
          .isEmpty();
      assertThat(env.mountsBelow()).as("mounts left").isEmpty();
      assertThat(env.loopDevicesBelow()).as("loop devices left").isEmpty();
      assertThat(env.daemon().client().list()).as("snapshots left").isEmpty();
      env.daemon().client().cleanup();
      try (Stream<Path> dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
        assertThat(dirs.toList()).as("snapshot directories left").isEmpty();
      }
    }

    private List<String> lines(String s) {
      return s.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }
  }
}
