package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DefiningLabelsTest {
  private static final Map<String, String> LAYER =
      Map.of(
          Labels.SNAPSHOT_REF,
          "sha256:chain",
          Labels.BLOB_DIGEST,
          "sha256:" + "a".repeat(64),
          Labels.BLOB_SIZE,
          "642560",
          Labels.CRI_IMAGE_REF,
          "registry.example/app:1",
          Labels.REMOTE,
          Labels.REMOTE_VALUE,
          "containerd.io/gc.root",
          "x");

  private static Map<String, String> with(String key, String value) {
    Map<String, String> m = new HashMap<>(LAYER);
    if (value == null) {
      m.remove(key);
    } else {
      m.put(key, value);
    }
    return m;
  }

  @Test
  void otherLabelsAndRepeatedValuesMayBeUpdated() {
    DefiningLabels.requireUnchanged("layer", LAYER, with("containerd.io/gc.root", "y"));
    DefiningLabels.requireUnchanged("layer", LAYER, with("containerd.io/gc.root", null));
    DefiningLabels.requireUnchanged("layer", LAYER, Map.copyOf(LAYER));
  }

  @Test
  void changingADefiningLabelIsAFailedPrecondition() {
    assertThatThrownBy(
            () ->
                DefiningLabels.requireUnchanged(
                    "layer", LAYER, with(Labels.BLOB_DIGEST, "sha256:" + "b".repeat(64))))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("label " + Labels.BLOB_DIGEST + " of OverlayBD snapshot layer")
        .hasMessageContaining("cannot be changed");
  }

  @Test
  void removingOrAddingADefiningLabelIsAFailedPrecondition() {
    assertThatThrownBy(
            () -> DefiningLabels.requireUnchanged("layer", LAYER, with(Labels.REMOTE, null)))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("cannot be removed");
    assertThatThrownBy(
            () ->
                DefiningLabels.requireUnchanged(
                    "layer", LAYER, with(Labels.LOCAL_COMMIT_PATH, "/etc/shadow")))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining(Labels.LOCAL_COMMIT_PATH)
        .hasMessageContaining("cannot be added");
  }
}
