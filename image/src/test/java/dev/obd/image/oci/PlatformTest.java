package dev.obd.image.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.oci.ImageIndex.Platform;
import org.junit.jupiter.api.Test;

class PlatformTest {
  @Test
  void aWantedPlatformWithoutVariantMatchesEveryVariant() {
    Platform v8 = Platform.parse("linux/arm64/v8");
    assertThat(v8).isEqualTo(new Platform("linux", "arm64", "v8"));
    assertThat(v8.matches(Platform.parse("linux/arm64"))).isTrue();
    assertThat(v8.matches(Platform.parse("linux/arm64/v8"))).isTrue();
    assertThat(v8.matches(Platform.parse("linux/arm64/v7"))).isFalse();
    assertThat(Platform.parse("linux/arm64").matches(v8)).isFalse();
    assertThat(Platform.parse("linux/amd64").matches(Platform.parse("windows/amd64"))).isFalse();
    assertThat(v8.toString()).isEqualTo("linux/arm64/v8");
    assertThat(Platform.parse("linux/amd64").toString()).isEqualTo("linux/amd64");
  }

  @Test
  void attestationEntriesAreNoRunnablePlatform() {
    assertThat(Platform.parse("unknown/unknown").isUnknown()).isTrue();
    assertThat(Platform.parse("linux/amd64").isUnknown()).isFalse();
  }

  @Test
  void somethingElseIsRefusedWithAnExample() {
    for (String bad : new String[] {"linux", "linux/", "/amd64", "linux/arm64/", "a/b/c/d", ""}) {
      assertThatThrownBy(() -> Platform.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("e.g. linux/arm64");
    }
  }
}
