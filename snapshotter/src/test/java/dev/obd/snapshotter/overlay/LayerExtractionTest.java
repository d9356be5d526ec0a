package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.snapshotter.snapshots.Kind;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LayerExtractionTest {
  private static final String CHAIN =
      "sha256:7b3e7c1a2f0f27f0f4a8b51ae3d6ad16b4b3a92d5c0e1f2a3b4c5d6e7f809a1b";

  @Test
  void theKeysOfContainerdsUnpackersMarkALayerBeingUnpackedWithoutAnyLabel() {
    // ctr images pull on containerd 1.6 (through the metadata store's namespace prefix)
    assertThat(
            LayerExtraction.recognises(
                Kind.ACTIVE, "default/12/extract-123456789-AbCd " + CHAIN, Map.of()))
        .isTrue();
    // CRI's namespace, and a direct call without the prefix
    assertThat(
            LayerExtraction.recognises(
                Kind.ACTIVE, "k8s.io/3/extract-987654321-x_y " + CHAIN, Map.of()))
        .isTrue();
    assertThat(LayerExtraction.recognises(Kind.ACTIVE, "extract-1-a " + CHAIN, Map.of())).isTrue();
  }

  @Test
  void theLabelsOfNewerUnpackersMarkItToo() {
    assertThat(
            LayerExtraction.recognises(
                Kind.ACTIVE, "k8s.io/4/whatever", Map.of("containerd.io/snapshot.ref", CHAIN)))
        .isTrue();
    assertThat(
            LayerExtraction.recognises(
                Kind.ACTIVE, "anything", Map.of("containerd.io/snapshot/type", "image")))
        .isTrue();
  }

  @Test
  void containerRootfsViewsAndLookalikesAreNotLayersBeingUnpacked() {
    assertThat(LayerExtraction.recognises(Kind.ACTIVE, "default/13/mycontainer", Map.of()))
        .isFalse();
    assertThat(LayerExtraction.recognises(Kind.VIEW, "default/2/extract-1-a " + CHAIN, Map.of()))
        .isFalse();
    assertThat(LayerExtraction.recognises(Kind.ACTIVE, "default/5/extract-1-a", Map.of()))
        .isFalse();
    assertThat(
            LayerExtraction.recognises(Kind.ACTIVE, "default/5/my-extract-1-a " + CHAIN, Map.of()))
        .isFalse();
    assertThat(LayerExtraction.recognises(Kind.ACTIVE, "a/b/c/extract-1-a " + CHAIN, Map.of()))
        .isFalse();
    assertThat(
            LayerExtraction.recognises(
                Kind.ACTIVE, "anything", Map.of("containerd.io/snapshot/type", "container")))
        .isFalse();
  }
}
