package dev.obd.bench.image;

import dev.obd.image.layer.LayerStack;
import dev.obd.image.zfile.Compression;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Reads of a three-layer OverlayBD stack (tar(ZFile(LSMT)) files on local disk, page-cached)
 * against reads of the raw disk image the stack reproduces, from the same disk: sequential 1 MiB
 * reads and random 4 KiB reads, both only over ranges that hold data. Throughput = ops/s × size.
 * The baseline reads the raw image with {@code pread} (FileChannel), as a raw-image block backend
 * does; the stack reads its layer files with {@code pread} ({@link dev.obd.image.FileByteSource})
 * or through a mapping ({@link dev.obd.image.MappedFileByteSource}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Benchmark)
public class StackReadBench {
  static final int SEQ = 1 << 20;
  static final int RANDOM = 4096;

  @Param({"LZ4", "ZSTD"})
  public Compression compression;

  /** How the stack reads its layer files: {@code pread} or a memory mapping. */
  @Param({"pread", "mmap"})
  public String source;

  LayerStack stack;
  FileChannel raw;
  long[] seqOffsets;
  long[] randomOffsets;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    ImageFixture f = ImageFixture.get();
    stack = f.open(compression, source.equals("mmap"));
    raw = FileChannel.open(f.raw(), StandardOpenOption.READ);
    List<long[]> ranges = ImageFixture.dataRanges(stack);
    List<Long> seq = new ArrayList<>();
    long total = 0;
    for (long[] r : ranges) {
      for (long p = r[0]; p + SEQ <= r[1]; p += SEQ) {
        seq.add(p);
      }
      total += r[1] - r[0];
    }
    seqOffsets = seq.stream().mapToLong(Long::longValue).toArray();
    Random rnd = new Random(1);
    randomOffsets = new long[1 << 20];
    for (int i = 0; i < randomOffsets.length; i++) {
      long pick = (long) (rnd.nextDouble() * total);
      for (long[] r : ranges) {
        if (pick < r[1] - r[0]) {
          randomOffsets[i] = (r[0] + pick) / RANDOM * RANDOM;
          break;
        }
        pick -= r[1] - r[0];
      }
    }
    // warm the page cache for both sides
    ByteBuffer b = ByteBuffer.allocateDirect(SEQ);
    for (long p : seqOffsets) {
      b.clear();
      stack.read(p, b);
      b.clear();
      raw.read(b, p);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws IOException {
    stack.close();
    raw.close();
  }

  /** Per-thread buffers and cursors. */
  @State(Scope.Thread)
  public static class Cursor {
    final ByteBuffer seq = ByteBuffer.allocateDirect(SEQ);
    final ByteBuffer small = ByteBuffer.allocateDirect(RANDOM);
    int next;
  }

  @Benchmark
  public int stackSequential1MiB(Cursor c) throws IOException {
    c.seq.clear();
    stack.read(seqOffsets[c.next++ % seqOffsets.length], c.seq);
    return c.seq.get(0);
  }

  @Benchmark
  public int rawSequential1MiB(Cursor c) throws IOException {
    c.seq.clear();
    long p = seqOffsets[c.next++ % seqOffsets.length];
    while (c.seq.hasRemaining()) {
      p += raw.read(c.seq, p);
    }
    return c.seq.get(0);
  }

  @Benchmark
  public int stackRandom4KiB(Cursor c) throws IOException {
    c.small.clear();
    stack.read(randomOffsets[c.next++ & (randomOffsets.length - 1)], c.small);
    return c.small.get(0);
  }

  @Benchmark
  public int rawRandom4KiB(Cursor c) throws IOException {
    c.small.clear();
    long p = randomOffsets[c.next++ & (randomOffsets.length - 1)];
    while (c.small.hasRemaining()) {
      p += raw.read(c.small, p);
    }
    return c.small.get(0);
  }
}
