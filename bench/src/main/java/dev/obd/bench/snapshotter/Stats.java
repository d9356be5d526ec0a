package dev.obd.bench.snapshotter;

import java.util.Arrays;
import java.util.Locale;

/** Samples (latencies in nanoseconds, or sizes), summarized as percentiles. */
final class Stats {
  private long[] samples = new long[1024];
  private int n;

  void add(long nanos) {
    if (n == samples.length) {
      samples = Arrays.copyOf(samples, n * 2);
    }
    samples[n++] = nanos;
  }

  void addAll(Stats other) {
    for (int i = 0; i < other.n; i++) {
      add(other.samples[i]);
    }
  }

  int count() {
    return n;
  }

  double percentileMillis(double p) {
    return percentile(p) / 1e6;
  }

  /** The {@code p}-th percentile of the samples as they were added (100: the largest). */
  double percentile(double p) {
    long[] sorted = Arrays.copyOf(samples, n);
    Arrays.sort(sorted);
    int idx = (int) Math.min(n - 1, Math.max(0, Math.ceil(p / 100.0 * n) - 1));
    return sorted[idx];
  }

  static String ms(double v) {
    return String.format(Locale.ROOT, v < 10 ? "%.2f ms" : "%.1f ms", v);
  }
}
