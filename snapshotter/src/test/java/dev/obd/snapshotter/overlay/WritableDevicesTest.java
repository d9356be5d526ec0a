package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.LsmtHeader;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The size a new writable layer on an image says its disk is. */
class WritableDevicesTest {
  private static final long GIB = 1L << 30;

  /** Where an LSMT header or trailer keeps the virtual size (little-endian). */
  private static final long VSIZE_OFFSET = 48;

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
  void aCommittedSparseContainerLayerStatesItsSizeLikeAnAppendOne() throws Exception {
    LowerConfig bottom = sealedLayer("bottom", 64 * GIB);
    LowerConfig sparse = sealedLayer("sparse", 128 * GIB, true);
    assertThat(WritableDevices.localVirtualSize(image(bottom, sparse))).isEqualTo(128 * GIB);
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

  @Test
  void aLayerStatingASizeThatIsNotWholeSectorsFailsThePrepareAsAPrecondition() throws Exception {
    LowerConfig bad = sealedLayer("bad", 64 * GIB);
    Path sealed = Path.of(bad.dir()).resolve("overlaybd.sealed");
    try (FileChannel ch = FileChannel.open(sealed, StandardOpenOption.WRITE)) {
      ByteBuffer size = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      size.putLong(0, 64 * GIB + 100);
      // the header and the trailer, from which a sealed layer's metadata is read
      ch.write(size.duplicate(), VSIZE_OFFSET);
      ch.write(size.duplicate(), ch.size() - LsmtHeader.SIZE + VSIZE_OFFSET);
    }
    assertThatThrownBy(() -> WritableDevices.localVirtualSize(image(bad)))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageStartingWith(
            "layer "
                + sealed
                + " states a virtual disk size of "
                + (64 * GIB + 100)
                + " bytes, not a whole number of 512-byte sectors");
  }

  private static ImageConfig image(LowerConfig... lowersBottomFirst) {
    return ImageConfig.of("", List.of(lowersBottomFirst), "/nonexistent/init-debug.log");
  }

  /** A layer directory holding a sealed layer of {@code vsize} bytes, as a sealed commit leaves. */
  private LowerConfig sealedLayer(String name, long vsize) throws Exception {
    return sealedLayer(name, vsize, false);
  }

  private LowerConfig sealedLayer(String name, long vsize, boolean sparse) throws Exception {
    Path layerDir = Files.createDirectories(dir.resolve(name));
    Path data = layerDir.resolve("data");
    Path index = layerDir.resolve("index");
    try (WritableLayer w =
        sparse
            ? WritableLayer.createSparse(data, index, vsize, LayerUuid.random(), LayerUuid.NIL)
            : WritableLayer.create(data, index, vsize, LayerUuid.random(), LayerUuid.NIL)) {
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
