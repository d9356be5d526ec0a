package dev.obd.snapshotter.metrics;

import dev.obd.snapshotter.snapshots.Kind;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.UnknownSnapshot;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * The daemon's Prometheus metrics, with upstream's names so that existing dashboards keep working:
 * {@code grpc_latency_seconds{function}} (histogram, upstream's 20 exponential buckets from 0.1
 * ms), {@code grpc_error_count{function}}, {@code is_alive}; plus {@code snapshots{kind}} and the
 * JVM's own metrics. Thread-safe.
 *
 * <p>{@code grpc_error_count} is exposed untyped: as a counter the client library would have to
 * rename it {@code grpc_error_count_total}, breaking queries written for upstream.
 */
public final class SnapshotterMetrics {
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Histogram latency;
  private final Gauge alive;
  private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();

  /**
   * @param countByKind current number of snapshots of each kind, read at each scrape
   */
  public SnapshotterMetrics(Supplier<Map<Kind, Long>> countByKind) {
    latency =
        Histogram.builder()
            .name("grpc_latency_seconds")
            .help("Latency of snapshotter RPCs in seconds")
            .labelNames("function")
            .classicExponentialUpperBounds(0.0001, 2, 20)
            .classicOnly()
            .register(registry);
    alive =
        Gauge.builder()
            .name("is_alive")
            .help("1 while the snapshotter serves requests")
            .register(registry);
    GaugeWithCallback.builder()
        .name("snapshots")
        .help("Snapshots known to the snapshotter, by kind")
        .labelNames("kind")
        .callback(
            cb -> {
              Map<Kind, Long> counts = countByKind.get();
              for (Kind k : Kind.values()) {
                cb.call(counts.getOrDefault(k, 0L), k.filterName());
              }
            })
        .register(registry);
    registry.register(
        () -> {
          UnknownSnapshot.Builder b =
              UnknownSnapshot.builder()
                  .name("grpc_error_count")
                  .help("Snapshotter RPCs that failed, by function");
          errors.forEach(
              (function, count) ->
                  b.dataPoint(
                      UnknownSnapshot.UnknownDataPointSnapshot.builder()
                          .labels(Labels.of("function", function))
                          .value(count.sum())
                          .build()));
          return MetricSnapshots.of(b.build());
        });
    JvmMetrics.builder().register(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  /** Records one finished RPC of {@code function} (upstream's names: Prepare, Walk, ...). */
  public void record(String function, boolean failed, long nanos) {
    latency.labelValues(function).observe(nanos / 1e9);
    if (failed) {
      errors.computeIfAbsent(function, f -> new LongAdder()).increment();
    }
  }

  public void setAlive(boolean serving) {
    alive.set(serving ? 1 : 0);
  }
}
