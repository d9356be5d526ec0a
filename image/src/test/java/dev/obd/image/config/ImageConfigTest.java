package dev.obd.image.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ImageConfigTest {
  private static final ImageConfig BASE =
      new ImageConfig(
          "https://r.example/v2/a/blobs",
          List.of(LowerConfig.ofDir("/s/1/fs")),
          UpperConfig.NONE,
          "/s/1/block/init-debug.log",
          false,
          "/traces/t",
          Optional.empty());

  @Test
  void eachWitherChangesOnlyWhatItNames() {
    UpperConfig upper = UpperConfig.writable("/s/2/block/writable_index", "/s/2/block/data", 0);
    assertThat(BASE.withUpper(upper))
        .isEqualTo(
            new ImageConfig(
                BASE.repoBlobUrl(),
                BASE.lowers(),
                upper,
                BASE.resultFile(),
                false,
                "/traces/t",
                Optional.empty()));
    assertThat(BASE.withResultFile("/s/2/block/init-debug.log"))
        .isEqualTo(
            new ImageConfig(
                BASE.repoBlobUrl(),
                BASE.lowers(),
                BASE.upper(),
                "/s/2/block/init-debug.log",
                false,
                "/traces/t",
                Optional.empty()));
    assertThat(BASE.withPrefetch(true, ""))
        .isEqualTo(
            new ImageConfig(
                BASE.repoBlobUrl(),
                BASE.lowers(),
                BASE.upper(),
                BASE.resultFile(),
                true,
                "",
                Optional.empty()));
  }

  @Test
  void prefetchCannotBothReplayTheAccelerationLayerAndUseATraceFile() {
    assertThatThrownBy(() -> BASE.withPrefetch(true, "/traces/t"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cannot be combined");
  }
}
