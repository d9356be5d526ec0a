package dev.obd.snapshotter.snapshots;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LabelRulesTest {
  /** {@code n} labels {@code k<i>} of {@code valueBytes} bytes each. */
  private static Map<String, String> labels(int n, int valueBytes) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < n; i++) {
      m.put(String.format("k%03d", i), "v".repeat(valueBytes));
    }
    return m;
  }

  @Test
  void labelsUpTo64KibTogetherAreFine() {
    LabelRules.validate(labels(16, 4096 - 4)); // 16 x 4096 = 65536 bytes
  }

  @Test
  void labelsBeyond64KibTogetherAreInvalidThoughEachIsWithinContainerdsLimit() {
    Map<String, String> tooMany = labels(16, 4096 - 4);
    tooMany.put("x", "y");
    assertThatThrownBy(() -> LabelRules.validate(tooMany))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("labels take 65538 bytes, more than the 65536");
  }

  @Test
  void bytesAreCountedInUtf8() {
    // 17 labels of 1300 three-byte characters: 22,168 characters but 66,368 bytes
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < 17; i++) {
      m.put(String.format("k%03d", i), "\u20ac".repeat(1300));
    }
    assertThatThrownBy(() -> LabelRules.validate(m))
        .hasMessageContaining("labels take 66368 bytes");
  }

  @Test
  void containerdsPerLabelLimitStillApplies() {
    assertThatThrownBy(() -> LabelRules.validate(Map.of("k", "v".repeat(4096))))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("maximum size (4096 bytes), key: k");
    assertThatThrownBy(() -> LabelRules.validate(Map.of("", "v")))
        .isInstanceOf(InvalidArgumentException.class);
  }
}
