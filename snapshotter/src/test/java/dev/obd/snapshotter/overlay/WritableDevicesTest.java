package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The size a new writable layer on an image says its disk is. */
class WritableDevicesTest {
  private static final long GIB = 1L << 30;
  @TempDir Path dir;

  @Test
  void aWritableLayerOnLocalLayersStatesTheVirtualSizeOfTheTopmostLayerThatHasOne()
      throws Exception {
    LowerConfig bottom = sealedLayer("bottom", 64 * GIB);
    LowerConfig middle = sealedLayer("middle", 256 * GIB);
    LowerConfig top = sealedLayer("top", 0);
    assertThat(WritableDevices.localVirtualSize(image(bottom, middle, top))).isEqualTo(256 * GIB);
    assertThat(WritableDevices.localVirtualSize(image(bottom))).isEqualTo(64 * GIB);
  }

  @Test
  void aRemoteLayerAboveMakesTheSizeUnknownHere() throws Exception {
    LowerConfig bottom = sealedLayer("bottom", 64 * GIB);
    LowerConfig remote =
        LowerConfig.remote(
            "sha256:" + "ab".repeat(32),
            4096,
            Files.createDirectories(dir.resolve("r")).toString());
    assertThat(WritableDevices.localVirtualSize(image(bottom, remote))).isZero();
    assertThat(WritableDevices.localVirtualSize(image())).isZero();
  }

  private static ImageConfig image(LowerConfig... lowersBottomFirst) {
    return ImageConfig.of("", List.of(lowersBottomFirst), "/nonexistent/init-debug.log");
  }

  /** A layer directory holding a sealed layer of {@code vsize} bytes, as a sealed commit leaves. */
  private LowerConfig sealedLayer(String name, long vsize) throws Exception {
    Path layerDir = Files.createDirectories(dir.resolve(name));
    Path data = layerDir.resolve("data");
    Path index = layerDir.resolve("index");
    try (WritableLayer w =
        WritableLayer.create(data, index, vsize, LayerUuid.random(), LayerUuid.NIL)) {
      if (vsize > 0) {
        w.write(0, ByteBuffer.wrap(new byte[4096]));
      }
      w.seal();
    }
    Files.move(data, layerDir.resolve("overlaybd.sealed"));
    Files.delete(index);
    return LowerConfig.ofDir(layerDir.toString());
  }
}
