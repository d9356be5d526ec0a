package dev.obd.bench.image;

import com.github.luben.zstd.ZstdDecompressCtx;
import dev.obd.image.MappedFileByteSource;
import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerReader;
import dev.obd.image.zfile.Compression;
import dev.obd.image.zfile.ZFileReader;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The floor under {@link StackReadBench}: decompressing random 4 KiB blocks of the bottom layer
 * straight from memory with the codec alone (no I/O, no CRC, no index), next to a full {@link
 * ZFileReader} read of the same blocks over a mapped file. The difference is the reader's own
 * overhead; the codec time is what no reader of the format can avoid.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class BlockDecompressBench {
  @Param({"LZ4", "ZSTD"})
  public Compression compression;

  Layer layer;
  ZFileReader zfile;
  ByteBuffer blob;
  long payload;
  int[] blocks;
  int next;
  final ByteBuffer dst = ByteBuffer.allocateDirect(4096);
  final LZ4SafeDecompressor lz4 = LZ4Factory.fastestInstance().safeDecompressor();
  final ZstdDecompressCtx zstd = new ZstdDecompressCtx();

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    ImageFixture f = ImageFixture.get();
    layer = LayerReader.open(MappedFileByteSource.open(f.layers(compression).get(0)));
    zfile = layer.zfile().orElseThrow();
    blob = ByteBuffer.allocateDirect((int) layer.blob().size());
    layer.blob().readFully(0, blob);
    payload = layer.tar().orElseThrow().payloadOffset();
    Random r = new Random(3);
    blocks = new int[1 << 16];
    for (int i = 0; i < blocks.length; i++) {
      blocks[i] = r.nextInt(zfile.blockCount() - 1);
    }
  }

  @Benchmark
  public int codecOnly4KiB() {
    int b = blocks[next++ & (blocks.length - 1)];
    int off = (int) (payload + zfile.blockOffset(b));
    int len = zfile.storedLength(b) - 4;
    if (compression == Compression.LZ4) {
      return lz4.decompress(blob, off, len, dst, 0, 4096);
    }
    return zstd.decompressDirectByteBuffer(dst, 0, 4096, blob, off, len);
  }

  @Benchmark
  public int zfileRead4KiB() throws Exception {
    int b = blocks[next++ & (blocks.length - 1)];
    dst.clear();
    zfile.readFully((long) b * 4096, dst);
    return dst.get(0);
  }
}
