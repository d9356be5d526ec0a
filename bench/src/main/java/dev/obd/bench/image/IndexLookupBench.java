package dev.obd.bench.image;

import dev.obd.image.lsmt.IndexMerger;
import dev.obd.image.lsmt.Segment;
import dev.obd.image.lsmt.SegmentIndex;
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
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Lookups in a merged index of about 100,000 entries (20 random layers merged as overlaybd merges
 * them), on one thread: find the entries covering a random 4 KiB request and visit them, which is
 * what every read of a stack does before any I/O.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@Threads(1)
@State(Scope.Benchmark)
public class IndexLookupBench {
  SegmentIndex merged;
  long[] sectors;
  long diskSectors;
  int next;

  @Setup(Level.Trial)
  public void setUp() {
    Random r = new Random(7);
    diskSectors = 64L << 21; // 64 GiB
    List<SegmentIndex> layers = new ArrayList<>();
    for (int l = 0; l < 20; l++) {
      List<Segment> s = new ArrayList<>();
      long pos = r.nextInt(1000);
      while (s.size() < 6_000) {
        int len = 8 * (1 + r.nextInt(64));
        s.add(new Segment(pos, len, 8 + pos, r.nextInt(10) == 0, 0));
        pos += len + 8L * r.nextInt(2 * 5_000);
      }
      layers.add(SegmentIndex.of(s));
    }
    merged = IndexMerger.merge(layers);
    long end = merged.end(merged.size() - 1);
    sectors = new long[1 << 20];
    for (int i = 0; i < sectors.length; i++) {
      sectors[i] = (long) (r.nextDouble() * end) / 8 * 8;
    }
    System.out.println("merged index: " + merged.size() + " entries");
  }

  @Benchmark
  public long lookup4KiB() {
    long s = sectors[next++ & (sectors.length - 1)];
    long end = s + 8;
    long sum = 0;
    SegmentIndex m = merged;
    for (int i = m.firstEndingAfter(s); i < m.size() && m.offset(i) < end; i++) {
      sum += m.moffset(i) + m.tag(i);
    }
    return sum;
  }
}
