package dev.obd.bench.backstore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/** The read workloads the benchmark runs against each device, with the page cache dropped first. */
final class BlockReads {
  private BlockReads() {}

  /** Result of one workload. */
  record Result(double seconds, long bytes, long ops) {
    double mbPerSecond() {
      return bytes / 1e6 / seconds;
    }

    double iops() {
      return ops / seconds;
    }

    double meanLatencyMicros(int threads) {
      return seconds * 1e6 * threads / ops;
    }
  }

  static void dropCaches() throws IOException {
    Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
  }

  /** Reads every file under {@code dir} front to back in 1 MiB reads (sorted by name). */
  static Result sequentialFiles(Path dir) throws IOException {
    dropCaches();
    List<Path> files;
    try (Stream<Path> s = Files.walk(dir)) {
      files = s.filter(Files::isRegularFile).sorted().toList();
    }
    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
    long bytes = 0;
    long start = System.nanoTime();
    for (Path f : files) {
      try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
        int n;
        while ((n = ch.read(buf.clear())) > 0) {
          bytes += n;
        }
      }
    }
    return new Result((System.nanoTime() - start) / 1e9, bytes, files.size());
  }

  /**
   * 4 KiB O_DIRECT reads at random 4 KiB-aligned offsets below {@code span} of the block device,
   * {@code opsPerThread} by each of {@code threads} threads (fixed seeds: every device sees the
   * same offsets).
   */
  static Result random4k(Path device, long span, int threads, int opsPerThread) throws Exception {
    dropCaches();
    OpenOption direct =
        (OpenOption)
            Class.forName("com.sun.nio.file.ExtendedOpenOption").getField("DIRECT").get(null);
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try {
      long start = System.nanoTime();
      List<Future<Long>> fs =
          java.util.stream.IntStream.range(0, threads)
              .mapToObj(
                  t ->
                      pool.submit(
                          () -> {
                            Random r = new Random(1000 + t);
                            ByteBuffer b =
                                ByteBuffer.allocateDirect(8192).alignedSlice(4096).limit(4096);
                            long n = 0;
                            try (FileChannel ch =
                                FileChannel.open(device, StandardOpenOption.READ, direct)) {
                              for (int i = 0; i < opsPerThread; i++) {
                                long off = (long) r.nextInt((int) (span / 4096)) * 4096;
                                b.clear().limit(4096);
                                while (b.hasRemaining()) {
                                  if (ch.read(b, off + b.position()) < 0) {
                                    throw new IOException("EOF at " + off);
                                  }
                                }
                                n++;
                              }
                            }
                            return n;
                          }))
              .toList();
      long ops = 0;
      for (Future<Long> f : fs) {
        ops += f.get();
      }
      double s = (System.nanoTime() - start) / 1e9;
      return new Result(s, ops * 4096, ops);
    } finally {
      pool.shutdownNow();
    }
  }
}
