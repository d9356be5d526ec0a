package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Prometheus endpoint an operator scrapes, with upstream's metric names. */
class MetricsTest {

  @Test
  void theEndpointReportsRpcLatencyErrorsLivenessAndSnapshotsByKind() throws Exception {
    Requirements.requireRoot();
    Path base = Files.createTempDirectory("obd-metrics-");
    int port = LocalRegistry.freePort();
    Path config = base.resolve("config.json");
    Files.writeString(
        config,
        "{\"exporterConfig\": {\"enable\": true, \"port\": "
            + port
            + ", \"uriPrefix\": \"/custom\"}}");
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(
            base.resolve("root"), base.resolve("obd.sock"), "--config", config.toString())) {
      var c = d.client();
      c.prepare("a", "");
      c.commit("c", "a");
      c.prepare("b", "c");
      c.view("v", "c");
      c.list();
      assertThatThrownBy(() -> c.stat("missing")).isNotNull();
      assertThatThrownBy(() -> c.stat("missing")).isNotNull();

      String text = scrape("http://127.0.0.1:" + port + "/custom");
      assertThat(text).contains("# TYPE grpc_latency_seconds histogram");
      assertThat(value(text, "grpc_latency_seconds_count{function=\"Prepare\"}")).isEqualTo(2);
      assertThat(value(text, "grpc_latency_seconds_count{function=\"Walk\"}")).isEqualTo(1);
      assertThat(text).contains("grpc_latency_seconds_bucket{function=\"Commit\",le=\"1.0E-4\"}");
      assertThat(value(text, "grpc_error_count{function=\"Stat\"}")).isEqualTo(2);
      assertThat(text).doesNotContain("grpc_error_count{function=\"Prepare\"}");
      assertThat(value(text, "is_alive")).isEqualTo(1);
      assertThat(value(text, "snapshots{kind=\"active\"}")).isEqualTo(1);
      assertThat(value(text, "snapshots{kind=\"view\"}")).isEqualTo(1);
      assertThat(value(text, "snapshots{kind=\"committed\"}")).isEqualTo(1);
      assertThat(text).contains("jvm_memory_used_bytes");

      Optional<InetAddress> external = nonLoopbackAddress();
      if (external.isPresent()) {
        try (Socket s = new Socket()) {
          assertThatThrownBy(() -> s.connect(new InetSocketAddress(external.get(), port), 2000))
              .as("bound to 127.0.0.1 only")
              .isInstanceOf(ConnectException.class);
        }
      }
    } finally {
      Layers.deleteTree(base);
    }
  }

  @Test
  void withoutExporterConfigNothingListens() throws Exception {
    Requirements.requireRoot();
    Path base = Files.createTempDirectory("obd-metrics-off-");
    try (SnapshotterDaemon d =
        SnapshotterDaemon.start(base.resolve("root"), base.resolve("obd.sock"))) {
      d.client().prepare("a", "");
      assertThat(d.logTail(50)).doesNotContain("metrics on");
    } finally {
      Layers.deleteTree(base);
    }
  }

  @Test
  void aMetricsPortInUseStopsTheStartWithALineNamingThePort() throws Exception {
    Requirements.requireRoot();
    Path base = Files.createTempDirectory("obd-metrics-busy-");
    try (java.net.ServerSocket taken = new java.net.ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      int port = taken.getLocalPort();
      Path config = base.resolve("config.json");
      Files.writeString(config, "{\"exporterConfig\": {\"enable\": true, \"port\": " + port + "}}");
      SnapshotterDaemon d =
          SnapshotterDaemon.launch(
              base.resolve("root"),
              base.resolve("obd.sock"),
              java.util.Map.of(),
              "--config",
              config.toString());
      try (d) {
        assertThat(d.process().awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(1);
        assertThat(d.logTail(40))
            .contains("failed to start: cannot serve metrics on 127.0.0.1:" + port)
            .contains("exporterConfig.port");
        assertThat(base.resolve("obd.sock")).doesNotExist();
      }
    } finally {
      Layers.deleteTree(base);
    }
  }

  private static String scrape(String url) throws IOException, InterruptedException {
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    return r.body();
  }

  private static double value(String text, String series) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(text);
    assertThat(m.find()).as("series " + series + " in\n" + text).isTrue();
    return Double.parseDouble(m.group(1));
  }

  private static Optional<InetAddress> nonLoopbackAddress() throws IOException {
    for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
      if (ni.isUp() && !ni.isLoopback()) {
        for (InetAddress a : Collections.list(ni.getInetAddresses())) {
          if (a instanceof Inet4Address) {
            return Optional.of(a);
          }
        }
      }
    }
    return Optional.empty();
  }
}
