package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Ordinary (tar) images through real containerd and runc on obd-snapshotter, by every path users
 * take: ctr import, ctr pull from a registry, kubelet's CRI pull; then removal and garbage
 * collection, and many pulls and runs at once.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OrdinaryImagesEndToEndTest {
  private E2eEnvironment env;

  @BeforeAll
  void start() {
    env = E2eEnvironment.start("ordinary");
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  private String ctr(String ns, String... args) {
    return env.containerd.ctr(ns, args);
  }

  private String run(String ns, String image, String id, String... cmd) {
    return env.containerd.runContainer(ns, SNAPSHOTTER, image, id, cmd);
  }

  @Test
  void anImportedImageRunsAndShowsExactlyTheLayeredTree() throws Exception {
    OciImage image = TestImages.tree("docker.io/obdtest/tree:import");
    Path tar = image.writeTar(env.workDir("import"), "import");
    ctr("default", "images", "import", "--snapshotter", SNAPSHOTTER, tar.toString());
    List<String> expected = ExpectedTree.of(image.layers()).listing("data");
    String out =
        run(
            "default",
            image.name(),
            "tree-import",
            "/bin/sh",
            "-c",
            ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out)).containsExactlyElementsOf(expected);
    assertThat(expected)
        .as("the image really exercises whiteouts, opaque dirs and recreated dirs")
        .noneMatch(
            l ->
                l.startsWith("./gone|")
                    || l.startsWith("./dir-gone")
                    || l.startsWith("./opq/lower"))
        .anyMatch(l -> l.startsWith("./recreate/new|"))
        .anyMatch(l -> l.startsWith("./null|21b6|0|0|1,3"))
        .anyMatch(l -> l.startsWith("./owned|8180|1000|1001|"));
    assertViewFromHost(image, "default");
  }

  /** What a container cannot show with busybox: xattrs, checked on a view mounted on the host. */
  private void assertViewFromHost(OciImage image, String ns) throws Exception {
    String top = image.chainIds().get(image.chainIds().size() - 1);
    String key = "host-view-" + System.nanoTime();
    Path target = Files.createDirectories(env.workDir("view").resolve(key));
    // one call creates the view and prints its mounts: a view holds no lease, so containerd's
    // garbage collection (scheduled by the containers removed before) may take it at any moment
    // after, and a second call could find it gone
    String mount =
        ctr(
                ns,
                "snapshots",
                "--snapshotter",
                SNAPSHOTTER,
                "view",
                "--target",
                target.toString(),
                key,
                top)
            .strip();
    Containerd.Result r = Containerd.run(List.of("sh", "-c", mount), Duration.ofMinutes(1));
    assertThat(r.exit()).as(mount + ": " + r.output()).isZero();
    try {
      UserDefinedFileAttributeView xattrs =
          Files.getFileAttributeView(
              target.resolve("data/xattr"), UserDefinedFileAttributeView.class);
      ByteBuffer value = ByteBuffer.allocate(64);
      xattrs.read("obd.test", value);
      value.flip();
      assertThat(StandardCharsets.UTF_8.decode(value).toString()).isEqualTo("hello");
      assertThat(target.resolve("data/gone")).doesNotExist();
      assertThat(target.resolve("data/recreate/old")).doesNotExist();
      assertThat(Files.readString(target.resolve("data/keep"))).isEqualTo("kept, then changed\n");
    } finally {
      Containerd.run(List.of("umount", target.toString()), Duration.ofMinutes(1));
      // gone already if the garbage collector took it
      env.containerd.ctrResult(ns, "snapshots", "--snapshotter", SNAPSHOTTER, "rm", key);
    }
  }

  @Test
  void anImagePulledFromARegistryOverPlainHttpRuns() throws Exception {
    OciImage image = TestImages.tree("unused");
    String ref = image.push(env.workDir("pull"), env.registry.host(), "obdtest/tree", "pulled");
    ctr("default", "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    String out = run("default", ref, "tree-pull", "/bin/sh", "-c", ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(image.layers()).listing("data"));
    assertThat(run("default", ref, "tree-pull-motd", "/bin/cat", "/etc/motd"))
        .isEqualTo("hello from obd-snapshotter tests\n");
  }

  @Test
  void aFortyLayerImagePullsAndRuns() throws Exception {
    OciImage image = TestImages.manyLayers("unused", 40);
    String ref = image.push(env.workDir("forty"), env.registry.host(), "obdtest/forty", "v1");
    ctr("default", "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    assertThat(run("default", ref, "forty", "/bin/cat", "/data/top"))
        .isEqualTo("top is layer 39\n");
    String out =
        run("default", ref, "forty-tree", "/bin/sh", "-c", ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(image.layers()).listing("data"));
    assertThat(env.daemon().client().list("name~=" + image.chainIds().get(39).substring(7) + "$"))
        .as("the top layer is committed under its chain id")
        .singleElement()
        .extracting(Info::getKind)
        .hasToString("COMMITTED");
  }

  @Test
  void aContainerOn128LayersStartsThroughContainerdsLongMountOptionPath() throws Exception {
    // 128 lowerdirs make the overlay options longer than a page: containerd then mounts with
    // lowerdirs relative to their common parent, which the snapshot layout must allow.
    OciImage image = TestImages.manyLayers("unused", 128);
    String ref = image.push(env.workDir("l128"), env.registry.host(), "obdtest/l128", "v1");
    ctr("default", "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    assertThat(run("default", ref, "l128", "/bin/cat", "/data/top"))
        .isEqualTo("top is layer 127\n");
    assertThat(run("default", ref, "l128-ls", "/bin/sh", "-c", "ls /data | wc -l").strip())
        .isEqualTo(String.valueOf(127 - 12 + 1));
  }

  @Test
  void kubeletsCriPullThenARunInTheK8sNamespace() throws Exception {
    OciImage image = TestImages.small("unused", "pulled by CRI");
    String ref = image.push(env.workDir("cri"), env.registry.host(), "obdtest/cri", "v1");
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      String id = cri.pull(ref);
      assertThat(id).startsWith("sha256:");
      assertThat(cri.list()).anyMatch(i -> i.getRepoTagsList().contains(ref));
    }
    assertThat(run("k8s.io", ref, "cri-run", "/bin/cat", "/data/id")).isEqualTo("pulled by CRI\n");
    List<Info> snapshots = env.daemon().client().list("name~=^k8s.io/");
    assertThat(snapshots)
        .as("CRI pulls go through obd-snapshotter")
        .extracting(Info::getName)
        .anyMatch(n -> n.endsWith(image.chainIds().get(1)));
  }

  @Test
  void removingAnImageAndCollectingGarbageLeavesNoSnapshotOrDirectoryBehind() throws Exception {
    String ns = "gc-test";
    OciImage image = TestImages.small("unused", "collected");
    String ref = image.push(env.workDir("gc"), env.registry.host(), "obdtest/gc", "v1");
    ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    assertThat(env.daemon().client().list("name~=^" + ns + "/")).hasSize(2);
    assertThat(run(ns, ref, "gc-run", "/bin/cat", "/data/id")).isEqualTo("collected\n");
    ctr(ns, "images", "rm", "--sync", ref);
    assertThat(env.daemon().client().list("name~=^" + ns + "/")).isEmpty();
    try (Stream<Path> dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      assertThat(dirs.count())
          .as("no directory left behind: one per remaining snapshot")
          .isEqualTo(env.daemon().client().list().size());
    }
  }

  @Test
  void eightParallelPullsThenEightParallelRuns() throws Exception {
    List<String> refs = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      OciImage image = TestImages.small("unused", "image number " + i);
      refs.add(image.push(env.workDir("par-" + i), env.registry.host(), "obdtest/par" + i, "v1"));
    }
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<String>> pulls = new ArrayList<>();
      for (String ref : refs) {
        pulls.add(
            pool.submit(
                () ->
                    ctr(
                        "default",
                        "images",
                        "pull",
                        "--plain-http",
                        "--snapshotter",
                        SNAPSHOTTER,
                        ref)));
      }
      for (Future<String> f : pulls) {
        f.get(5, TimeUnit.MINUTES);
      }
      List<Future<String>> runs = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String ref = refs.get(i);
        String id = "par-run-" + i;
        runs.add(pool.submit(() -> run("default", ref, id, "/bin/cat", "/data/id")));
      }
      for (int i = 0; i < 8; i++) {
        assertThat(runs.get(i).get(5, TimeUnit.MINUTES)).isEqualTo("image number " + i + "\n");
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
