package dev.obd.image.layer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.build.BlobFormat;
import dev.obd.image.build.LayerBlobWriter;
import dev.obd.image.lsmt.CommittedLayerWriter;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.image.zfile.Compression;
import dev.obd.image.zfile.ZFileOptions;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.stream.LongStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Random stacks of random layers against a plain byte-array model of the disk: each layer's data
 * ranges overwrite the model, its zeroed ranges clear it, its holes leave it; an optional writable
 * upper layer replays overlapping writes and trims on top. Seeded, so a failure reproduces.
 */
class MergeModelTest {
  private static final int SECTOR = 512;

  @TempDir Path tmp;

  static LongStream seeds() {
    return LongStream.rangeClosed(1, 40);
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void randomStackReadsLikeTheModel(long seed) throws Exception {
    Random r = new Random(seed);
    int sectors = 6_000 + r.nextInt(14_000);
    byte[] model = new byte[sectors * SECTOR];
    int layers = seed % 10 == 0 ? 20 + r.nextInt(20) : 1 + r.nextInt(8);
    List<ByteSource> sources = new ArrayList<>();
    for (int l = 0; l < layers; l++) {
      sources.add(FileByteSource.open(randomLayer(r, l, sectors, model)));
    }
    Optional<WritableLayer> upper = Optional.empty();
    if (r.nextBoolean()) {
      upper = Optional.of(randomUpper(r, sectors, model));
    }
    try (LayerStack stack = LayerStack.open(sources, upper)) {
      assertThat(stack.size()).isEqualTo(model.length);
      ByteBuffer all = ByteBuffer.allocate(model.length);
      stack.read(0, all);
      assertThat(firstDifference(all.array(), model)).isEqualTo(-1);
      for (int i = 0; i < 200; i++) {
        int from = r.nextInt(sectors);
        int n = 1 + r.nextInt(Math.min(sectors - from, 3000));
        ByteBuffer part =
            r.nextBoolean()
                ? ByteBuffer.allocateDirect(n * SECTOR)
                : ByteBuffer.allocate(n * SECTOR);
        stack.read((long) from * SECTOR, part);
        part.flip();
        byte[] got = new byte[n * SECTOR];
        part.get(got);
        assertThat(got)
            .as("sectors %d+%d", from, n)
            .isEqualTo(Arrays.copyOfRange(model, from * SECTOR, (from + n) * SECTOR));
      }
    }
  }

  private Path randomLayer(Random r, int l, int sectors, byte[] model) throws Exception {
    BlobFormat format;
    switch (r.nextInt(4)) {
      case 0:
        format = BlobFormat.rawLsmt();
        break;
      case 1:
        format = BlobFormat.official();
        break;
      case 2:
        format = new BlobFormat(Optional.of(ZFileOptions.of(Compression.ZSTD)), false);
        break;
      default:
        format =
            new BlobFormat(
                Optional.of(new ZFileOptions(Compression.LZ4, 16384, true, false)), true);
    }
    Path blob = tmp.resolve("layer" + l);
    // the bottom layer declares the size; upper ones sometimes declare 0 (old stacks)
    long vsize = l == 0 || r.nextBoolean() ? (long) sectors * SECTOR : 0;
    try (LayerBlobWriter w =
        LayerBlobWriter.create(blob, format, vsize, LayerUuid.random(), LayerUuid.NIL, null)) {
      CommittedLayerWriter lsmt = w.lsmt();
      int pos = r.nextInt(200);
      while (pos < sectors) {
        int len = 1 + (r.nextInt(10) == 0 ? r.nextInt(18_000) : r.nextInt(300));
        len = Math.min(len, sectors - pos);
        if (r.nextInt(5) == 0) {
          lsmt.writeZeroed(pos, len);
          Arrays.fill(model, pos * SECTOR, (pos + len) * SECTOR, (byte) 0);
        } else {
          byte[] data = new byte[len * SECTOR];
          fill(r, data);
          lsmt.writeData(pos, ByteBuffer.wrap(data));
          System.arraycopy(data, 0, model, pos * SECTOR, data.length);
        }
        pos += len + r.nextInt(r.nextBoolean() ? 50 : 3000); // holes of varying size
      }
      w.finish();
    }
    return blob;
  }

  private WritableLayer randomUpper(Random r, int sectors, byte[] model) throws Exception {
    WritableLayer up =
        WritableLayer.create(
            tmp.resolve("upper.data"),
            tmp.resolve("upper.index"),
            0,
            LayerUuid.random(),
            LayerUuid.NIL);
    for (int i = 0; i < 100; i++) {
      int from = r.nextInt(sectors);
      int len = 1 + r.nextInt(Math.min(sectors - from, r.nextInt(10) == 0 ? 20_000 : 64));
      if (r.nextInt(4) == 0) {
        up.trim((long) from * SECTOR, (long) len * SECTOR);
        Arrays.fill(model, from * SECTOR, (from + len) * SECTOR, (byte) 0);
      } else {
        byte[] data = new byte[len * SECTOR];
        fill(r, data);
        up.write((long) from * SECTOR, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, from * SECTOR, data.length);
      }
    }
    return up;
  }

  private static void fill(Random r, byte[] data) {
    if (r.nextBoolean()) {
      r.nextBytes(data);
    } else {
      Arrays.fill(data, (byte) (1 + r.nextInt(255)));
    }
  }

  private static long firstDifference(byte[] a, byte[] b) {
    return Arrays.mismatch(a, b);
  }
}
