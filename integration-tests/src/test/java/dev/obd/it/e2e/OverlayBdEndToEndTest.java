package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * OverlayBD images through real containerd on obd-snapshotter and obd-backstore: the image the
 * official OverlayBD convertor made of hello-world, pulled by kubelet's CRI path (lazily: no layer
 * blob downloaded) and by a plain ctr pull (the blob downloaded whole), then run.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverlayBdEndToEndTest {
  private static final String LAYER =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";

  private E2eEnvironment env;
  private String ref;

  @BeforeAll
  void start() throws Exception {
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    Requirements.requireCommand("nbdfuse");
    env = E2eEnvironment.startWithBackstore("obd", "");
    ref = env.registry.host() + "/hello:amd64-converted";
    ObdImages.push(hello, "amd64-converted", ref);
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  private long layerBlobGets() throws Exception {
    return Files.readAllLines(env.registry.log()).stream()
        .filter(l -> l.contains("GET /v2/hello/blobs/" + LAYER))
        .count();
  }

  @Test
  void aCriPullDownloadsNoLayerBlobAndTheContainerSaysHello() throws Exception {
    long before = layerBlobGets();
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(ref);
    }
    assertThat(layerBlobGets()).as("layer blob GETs during the pull").isEqualTo(before);

    List<Info> remote =
        env.daemon().client().list("labels.\"containerd.io/snapshot/remote\"==\"remote snapshot\"");
    assertThat(remote).as("the layer is committed as a remote snapshot").hasSize(1);
    assertThat(remote.get(0).getLabelsMap())
        .containsEntry("containerd.io/snapshot/overlaybd/blob-digest", LAYER)
        .containsEntry("containerd.io/snapshot/cri.image-ref", ref);

    String out = env.containerd.runContainer("k8s.io", SNAPSHOTTER, ref, "hello-cri");
    assertThat(out).contains("Hello from Docker!");
    List<DeviceInfo> devices =
        new BackstoreClient(env.backstoreSocket()).list(Duration.ofSeconds(10));
    assertThat(devices).as("the image's device stays attached for the next container").hasSize(1);
    String config = Files.readString(Path.of(devices.get(0).config()));
    assertThat(config)
        .contains("\"repoBlobUrl\":\"http://" + env.registry.host() + "/v2/hello/blobs\"")
        .contains("\"digest\":\"" + LAYER + "\"")
        .contains("\"size\":642560");
  }

  @Test
  void aPlainCtrPullDownloadsTheBlobAndRunsItAsALocalBlockLayer() {
    String ns = "plain";
    env.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    List<Info> local =
        env.daemon()
            .client()
            .list("name~=^plain/,labels.\"containerd.io/snapshot/overlaybd.localcommitpath\"");
    assertThat(local).as("the downloaded layer became a local block layer").hasSize(1);
    assertThat(local.get(0).getLabelsMap().get("containerd.io/snapshot/overlaybd.localcommitpath"))
        .endsWith("/fs/overlaybd.commit");
    assertThat(env.containerd.runContainer(ns, SNAPSHOTTER, ref, "hello-plain"))
        .contains("Hello from Docker!");
  }
}
