package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * With {@code rwMode} {@code dir} or {@code dev} configured, a plain {@code ctr images pull} of an
 * OverlayBD image unpacks its layers as layers (containerd 1.6 marks those Prepares only by their
 * key), and a container on it gets its own writable device over the image's layers. Upstream gives
 * each extraction snapshot a fresh formatted device instead, unpacks the layer into it, and the
 * container then finds only {@code lost+found} and {@code overlaybd.commit}.
 */
class OverlayBdWritableModesPlainPullEndToEndTest {

  @ParameterizedTest(name = "rwMode {0}")
  @ValueSource(strings = {"dir", "dev"})
  void aPlainPullThenRunShowsTheImageAndTakesWrites(String mode) throws Exception {
    Requirements.requireCommand("nbdfuse");
    try (E2eEnvironment env =
        E2eEnvironment.startWithBackstore("obd-rw-" + mode, "\"rwMode\": \"" + mode + "\"")) {
      OciImage tree = TestImages.tree("unused");
      Path converted = ObdImages.convert(tree, env.workDir("convert"), "v1");
      String ref = env.registry.host() + "/obd/rw-" + mode + ":v1";
      ObdImages.push(converted, "v1", ref);
      BackstoreClient backstore = new BackstoreClient(env.backstoreSocket());

      env.containerd.ctr(
          "default", "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
      assertThat(backstore.list(Duration.ofSeconds(10)))
          .as("devices attached while unpacking the image's layers")
          .isEmpty();

      String out =
          env.containerd.runContainer(
              "default",
              SNAPSHOTTER,
              ref,
              "rw-" + mode,
              "/bin/sh",
              "-c",
              "echo written > /data/new && cat /data/new && " + ExpectedTree.listScript("data"));
      assertThat(out).startsWith("written\n");
      assertThat(ExpectedTree.parse(out.substring("written\n".length())))
          .as("the image's tree under the container's writes")
          .containsAll(ExpectedTree.of(tree.layers()).listing("data"));
    }
  }
}
