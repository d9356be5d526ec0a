package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How registry answers become typed exceptions: the one mapping from a status, and the client's
 * retry decision taken on the type, against a local HTTP server (no registry, no root).
 */
class RegistryExceptionTest {
  private static final String DIGEST = "sha256:" + "ab".repeat(32);

  @TempDir Path dir;
  private HttpServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  @Test
  void aBlobEndpointsStatusNamesTheTypeAndTheMessageSaysWhatWasAnswered() {
    assertThat(
            RegistryException.answered(
                RegistryException.Endpoint.BLOB, "read x", "registry", 404, "no such blob"))
        .isInstanceOf(BlobNotFoundException.class)
        .hasMessage("read x: registry answered 404 (no such blob)");
    assertThat(
            RegistryException.answered(
                RegistryException.Endpoint.BLOB, "read x", "registry", 401, "no credentials"))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessage("read x: registry answered 401 (no credentials)");
    assertThat(RegistryException.answered(RegistryException.Endpoint.BLOB, "read x", "r", 403, ""))
        .isInstanceOf(RegistryDeniedException.class);
    assertThat(
            RegistryException.answered(
                RegistryException.Endpoint.BLOB, "read x", "reg.io:5000", 503, ""))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessage("read x: reg.io:5000 answered 503");
  }

  @Test
  void aTokenServersNotFoundIsNoMissingBlobButMayPass() {
    assertThat(
            RegistryException.answered(
                RegistryException.Endpoint.TOKEN, "read x", "token server", 404, ""))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessage("read x: token server answered 404");
    assertThat(
            RegistryException.answered(
                RegistryException.Endpoint.TOKEN, "read x", "token server", 401, "refused"))
        .isInstanceOf(RegistryDeniedException.class);
  }

  @Test
  void aMissingBlobFailsAtOnceWithoutRetrying() throws Exception {
    AtomicInteger requests = serve(() -> 404);
    RegistryClient client = client(Duration.ofSeconds(20));
    long start = System.nanoTime();
    assertThatThrownBy(() -> client.read(blob(), 0, 10))
        .isInstanceOf(BlobNotFoundException.class)
        .hasMessageContaining("registry answered 404 (no such blob)");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
    assertThat(requests.get()).isEqualTo(1);
  }

  @Test
  void aRefusalWithoutChallengeFailsAtOnceAsDenied() throws Exception {
    AtomicInteger requests = serve(() -> 401);
    assertThatThrownBy(() -> client(Duration.ofSeconds(20)).size(blob()))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessageContaining("registry answered 401 without a challenge");
    assertThat(requests.get()).isEqualTo(1);
  }

  @Test
  void aServerErrorIsRetriedUntilTheDeadlineThenReportedAsUnavailable() throws Exception {
    AtomicInteger requests = serve(() -> 503);
    assertThatThrownBy(() -> client(Duration.ofMillis(400)).read(blob(), 0, 10))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessageContaining("gave up after 400 ms")
        .hasMessageContaining("answered 503")
        .hasCauseInstanceOf(RegistryUnavailableException.class);
    assertThat(requests.get()).isGreaterThan(1);
  }

  private AtomicInteger serve(IntSupplier status) throws Exception {
    AtomicInteger requests = new AtomicInteger();
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext(
        "/",
        exchange -> {
          requests.incrementAndGet();
          byte[] body = "{}".getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(status.getAsInt(), body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
    server.start();
    return requests;
  }

  private BlobUrl blob() {
    return BlobUrl.of(
        "http://127.0.0.1:" + server.getAddress().getPort() + "/v2/team/app/blobs", DIGEST);
  }

  private RegistryClient client(Duration readDeadline) {
    RegistrySettings settings =
        new RegistrySettings(
            dir.resolve("cred.json"),
            dir.resolve("config.json"),
            Duration.ofSeconds(2),
            Duration.ofSeconds(2),
            readDeadline,
            List.of(),
            "");
    return new RegistryClient(
        settings, new CredentialStore(settings.credentialFile(), settings.dockerConfig()));
  }
}
