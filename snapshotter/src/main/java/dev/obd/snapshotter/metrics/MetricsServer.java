package dev.obd.snapshotter.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import java.io.IOException;

/**
 * The Prometheus text endpoint, as upstream's {@code exporterConfig} describes it, but bound to one
 * address (127.0.0.1 unless configured otherwise) rather than every interface.
 */
public final class MetricsServer implements AutoCloseable {
  private final HTTPServer server;

  private MetricsServer(HTTPServer server) {
    this.server = server;
  }

  /**
   * Serves the metrics at {@code http://host:port/path}.
   *
   * @throws IOException naming the address and the config key when it cannot be bound (in use, or
   *     not an address of this host)
   */
  public static MetricsServer start(SnapshotterMetrics metrics, String host, int port, String path)
      throws IOException {
    try {
      return new MetricsServer(
          HTTPServer.builder()
              .hostname(host)
              .port(port)
              .metricsHandlerPath(path)
              .registry(metrics.registry())
              .buildAndStart());
    } catch (IOException e) {
      throw new IOException(
          "cannot serve metrics on "
              + host
              + ":"
              + port
              + " (exporterConfig.host, exporterConfig.port): "
              + e.getMessage(),
          e);
    }
  }

  public int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    server.close();
  }
}
