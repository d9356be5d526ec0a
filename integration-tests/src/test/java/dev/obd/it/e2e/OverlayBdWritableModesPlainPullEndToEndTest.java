package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.it.support.Layers;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.ContainerdInstallation;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * With {@code rwMode} {@code dir} or {@code dev} configured, a plain pull of an OverlayBD image
 * ({@code ctr images pull}; {@code --local} on 2.x) unpacks its layers as layers on every
 * containerd version (1.6 marks those Prepares only by their key), and a container on it gets its
 * own writable device over the image's layers and sees the image. Upstream gives each extraction
 * snapshot a fresh formatted device instead and unpacks the layer into it; the container then finds
 * only {@code lost+found} and {@code overlaybd.commit}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverlayBdWritableModesPlainPullEndToEndTest {
  private Path work;
  private LocalRegistry registry;
  private OciImage tree;
  private String ref;

  @BeforeAll
  void pushImage() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    work = Files.createTempDirectory("obd-rw-modes-");
    registry = LocalRegistry.start(work.resolve("registry"));
    tree = TestImages.tree("unused");
    Path converted =
        ObdImages.convert(tree, Files.createDirectories(work.resolve("convert")), "v1");
    ref = registry.host() + "/obd/rw-modes:v1";
    ObdImages.push(converted, "v1", ref);
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

  List<ContainerdInstallation> versions() {
    return ContainerdInstallation.matrix();
  }

  @ParameterizedTest(name = "containerd {0}")
  @MethodSource("versions")
  void aPlainPullThenRunShowsTheImageAndTakesWritesInBothWritableModes(ContainerdInstallation c)
      throws Exception {
    try (E2eEnvironment env =
        E2eEnvironment.builder("rw-modes-" + c.version())
            .withBackstore("\"rwMode\": \"dir\"")
            .containerd(c)
            .registry(registry)
            .start()) {
      List<String> pull =
          new ArrayList<>(List.of("images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER));
      if (c.pullsThroughTransferService()) {
        pull.add("--local");
      }
      pull.add(ref);
      env.containerd.ctr("default", pull.toArray(String[]::new));
      assertThat(env.devices()).as("devices attached while unpacking the image's layers").isEmpty();
      assertRunsWithTheImage(env, "rw-dir");

      Path config = env.dir.resolve("obd-config.json");
      Files.writeString(config, Files.readString(config).replace("\"dir\"", "\"dev\""));
      env.restartDaemon();
      assertRunsWithTheImage(env, "rw-dev");
    }
  }

  private void assertRunsWithTheImage(E2eEnvironment env, String id) {
    String out =
        env.containerd.runContainer(
            "default",
            SNAPSHOTTER,
            ref,
            id,
            "/bin/sh",
            "-c",
            "echo written > /data/new && cat /data/new && " + ExpectedTree.listScript("data"));
    assertThat(out).startsWith("written\n");
    assertThat(ExpectedTree.parse(out.substring("written\n".length())))
        .as("the image's tree under the container's writes (%s)", id)
        .containsAll(ExpectedTree.of(tree.layers()).listing("data"));
  }
}
