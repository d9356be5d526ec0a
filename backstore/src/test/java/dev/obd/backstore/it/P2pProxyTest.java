package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upstream's {@code p2pConfig}: with it enabled, every blob fetch goes to {@code address + "/" +
 * url}. The P2P agent (Dragonfly, upstream's own proxy) is not something this machine has, so a
 * forwarding proxy written here stands in for it: it fetches the URL after its prefix from the real
 * docker-registry and counts what it forwards. The registry's own access log shows that every byte
 * the device read came through that proxy.
 */
class P2pProxyTest {
  @TempDir Path dir;

  @Test
  void everyBlobFetchGoesThroughTheP2pPrefix() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 4, 1 << 20, 16L << 20);
    Path daemonDir = dir.resolve("d");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"));
        ForwardingProxy proxy = new ForwardingProxy("/accelerator");
        Mounts mounts = new Mounts()) {
      TestImages.push(registry.url(), "p2p/img", img.blob(), img.digest(), null);
      long before = TestImages.bytesServed(registry.log(), img.digest());
      String blobs = registry.url() + "/v2/p2p/img/blobs";
      Path config =
          Fixture.imageConfig(
              dir.resolve("snap/config.v1.json"),
              Map.of(
                  "repoBlobUrl", blobs,
                  "lowers",
                      List.of(
                          Map.of(
                              "digest", img.digest(),
                              "size", img.blobSize(),
                              "dir", dir.resolve("snap/fs").toString())),
                  "upper", Map.of()));
      BackstoreDaemon daemon =
          BackstoreDaemon.start(
              Fixture.readConfig(
                  Fixture.daemonConfig(
                      daemonDir,
                      Map.of(
                          "p2pConfig", Map.of("enable", true, "address", proxy.prefix() + "/")))));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(60));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file2.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
      assertThat(proxy.targets())
          .as("URLs the P2P prefix was asked for")
          .isNotEmpty()
          .allSatisfy(u -> assertThat(u).isEqualTo(blobs + "/" + img.digest()));
      long served = TestImages.bytesServed(registry.log(), img.digest()) - before;
      assertThat(served).as("bytes the registry served for the blob").isPositive();
      assertThat(proxy.bytesForwarded())
          .as("bytes forwarded by the P2P proxy = all the registry served")
          .isEqualTo(served);
    }
  }

  /**
   * An HTTP server that answers {@code <prefix>/<absolute url>} by fetching that URL (GET or HEAD,
   * with the client's Range and Authorization headers) and relaying status, range headers and body.
   */
  private static final class ForwardingProxy implements AutoCloseable {
    private final HttpServer server;
    private final String path;
    private final HttpClient http = HttpClient.newHttpClient();
    private final List<String> targets = new CopyOnWriteArrayList<>();
    private final AtomicLong forwarded = new AtomicLong();

    ForwardingProxy(String path) throws IOException {
      this.path = path;
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.createContext(path + "/", this::forward);
      server.setExecutor(Executors.newFixedThreadPool(4));
      server.start();
    }

    String prefix() {
      return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    List<String> targets() {
      return targets;
    }

    long bytesForwarded() {
      return forwarded.get();
    }

    private void forward(HttpExchange ex) throws IOException {
      try (ex) {
        String raw = ex.getRequestURI().getRawPath();
        String query = ex.getRequestURI().getRawQuery();
        String target = raw.substring(path.length() + 1) + (query == null ? "" : "?" + query);
        targets.add(target);
        HttpRequest.Builder req =
            HttpRequest.newBuilder(URI.create(target))
                .method(ex.getRequestMethod(), HttpRequest.BodyPublishers.noBody());
        for (String h : List.of("Range", "Authorization")) {
          String v = ex.getRequestHeaders().getFirst(h);
          if (v != null) {
            req.header(h, v);
          }
        }
        HttpResponse<InputStream> resp;
        try {
          resp = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
        for (String h : List.of("Content-Range", "Content-Type", "Docker-Content-Digest")) {
          resp.headers().firstValue(h).ifPresent(v -> ex.getResponseHeaders().add(h, v));
        }
        long length = resp.headers().firstValueAsLong("Content-Length").orElse(0);
        boolean head = ex.getRequestMethod().equals("HEAD");
        if (head) {
          ex.getResponseHeaders().add("Content-Length", Long.toString(length));
        }
        ex.sendResponseHeaders(resp.statusCode(), head || length == 0 ? -1 : length);
        try (InputStream in = resp.body();
            OutputStream out = ex.getResponseBody()) {
          if (!head) {
            forwarded.addAndGet(in.transferTo(out));
          }
        }
      }
    }

    @Override
    public void close() {
      server.stop(0);
      ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
  }
}
