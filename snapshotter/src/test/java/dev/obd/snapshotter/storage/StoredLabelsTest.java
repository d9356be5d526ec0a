package dev.obd.snapshotter.storage;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class StoredLabelsTest {
  private static final String DIGEST =
      "sha256:4b2c1d9e6f3a5b7c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

  @Test
  void criLayerLabelsReadBackExactlyAndTakeAFractionOfTheirText() {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put("containerd.io/snapshot.ref", DIGEST);
    labels.put(
        "containerd.io/snapshot/cri.image-ref", "registry.example.com/ml/pytorch:2.4-cuda12");
    labels.put("containerd.io/snapshot/cri.layer-digest", DIGEST.replace('4', '5'));
    labels.put("containerd.io/snapshot/cri.manifest-digest", DIGEST.replace('4', '6'));
    labels.put(
        "containerd.io/snapshot/cri.image-layers",
        String.join(",", DIGEST, DIGEST.replace('c', 'd'), DIGEST.replace('c', 'e')));
    labels.put("containerd.io/snapshot/overlaybd/blob-size", "123456789");
    labels.put("example.com/own-key", "plain text, with ünïcödé");
    labels.put("x", "");

    StoredLabels stored = StoredLabels.of(labels);

    assertThat(stored).isEqualTo(labels);
    assertThat(new HashMap<>(stored)).isEqualTo(labels);
    assertThat(stored.get("containerd.io/snapshot/cri.image-layers"))
        .isEqualTo(labels.get("containerd.io/snapshot/cri.image-layers"));
    assertThat(stored.get("missing")).isNull();
    assertThat(stored.containsKey("x")).isTrue();
    int text =
        labels.entrySet().stream().mapToInt(e -> e.getKey().length() + e.getValue().length()).sum();
    assertThat(stored.heapBytes()).isLessThan(text / 2);
  }

  @Test
  void digestLookalikesAreKeptAsText() {
    Map<String, String> labels =
        Map.of(
            "a", DIGEST.toUpperCase().replace("SHA256", "sha256"),
            "b", DIGEST + ",",
            "c", DIGEST + "," + DIGEST.substring(0, 20),
            "d", "sha256:",
            "e", "," + DIGEST);
    assertThat(StoredLabels.of(labels)).isEqualTo(labels);
  }

  @Test
  void randomLabelsRoundTrip() {
    Random random = new Random(20261201);
    for (int round = 0; round < 200; round++) {
      Map<String, String> labels = new HashMap<>();
      int n = random.nextInt(12);
      for (int i = 0; i < n; i++) {
        labels.put(
            randomText(random, 1 + random.nextInt(300)), randomText(random, random.nextInt(600)));
      }
      assertThat(StoredLabels.of(labels)).as("round %d", round).isEqualTo(labels);
    }
  }

  private static String randomText(Random random, int length) {
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      b.appendCodePoint(
          random.nextInt(4) == 0 ? 0x80 + random.nextInt(0x2000) : 0x20 + random.nextInt(0x5f));
    }
    return b.toString();
  }
}
