package dev.obd.bench.backstore;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The registry alone: range GETs of the whole blob with no block device in between, the ceiling of
 * any lazy reader that fetches from this registry.
 */
final class RegistryProbe {
  private RegistryProbe() {}

  /** MB/s reading {@code size} bytes of {@code blob} in {@code range}-byte requests. */
  static double throughput(URI blob, long size, int range, int parallel) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    ExecutorService pool = Executors.newFixedThreadPool(parallel);
    try {
      long start = System.nanoTime();
      List<Future<Integer>> fs = new ArrayList<>();
      for (long off = 0; off < size; off += range) {
        long from = off;
        long to = Math.min(size, off + range) - 1;
        fs.add(
            pool.submit(
                () ->
                    http.send(
                            HttpRequest.newBuilder(blob)
                                .header("Range", "bytes=" + from + "-" + to)
                                .build(),
                            HttpResponse.BodyHandlers.ofByteArray())
                        .body()
                        .length));
      }
      long bytes = 0;
      for (Future<Integer> f : fs) {
        bytes += f.get();
      }
      return bytes / 1e6 / ((System.nanoTime() - start) / 1e9);
    } finally {
      pool.shutdownNow();
    }
  }
}
