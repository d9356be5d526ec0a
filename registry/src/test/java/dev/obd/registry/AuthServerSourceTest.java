package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * upstream's credentialConfig modes http, https (mutual TLS, certificates made by openssl for the
 * test) and uds, against auth servers on loopback and on a unix socket; and a registry that wants
 * the credentials only the auth server has.
 */
class AuthServerSourceTest {
  private static final String DIGEST = "sha256:" + "ab".repeat(32);
  private static final String PASSWORD = "auth-Server-pw-51";

  @TempDir Path dir;
  private final List<AutoCloseable> servers = new ArrayList<>();
  private LogLines logLines;

  /** What the auth server answers and the remote URLs it was asked for. */
  private final AtomicReference<String> answer = new AtomicReference<>();

  private final AtomicInteger status = new AtomicInteger(200);
  private final List<String> asked = Collections.synchronizedList(new ArrayList<>());

  @BeforeEach
  void logs() {
    logLines = LogLines.capture("dev.obd.registry");
    answer.set(
        "{\"traceId\":\"t-1\",\"success\":true,\"data\":{\"auths\":{"
            + "\"other.io\":{\"username\":\"x\",\"password\":\"x\"},"
            + "\"reg.io/team\":{\"username\":\"alice\",\"password\":\""
            + PASSWORD
            + "\"}}}}");
  }

  @AfterEach
  void stop() throws Exception {
    logLines.close();
    for (AutoCloseable s : servers) {
      s.close();
    }
    assertThat(logLines.lines()).noneMatch(l -> l.contains(PASSWORD));
  }

  private static BlobUrl blob(String repo) {
    return BlobUrl.of("https://reg.io/v2/" + repo + "/blobs", DIGEST);
  }

  private void handle(HttpExchange ex) throws IOException {
    String q = ex.getRequestURI().getRawQuery();
    asked.add(
        ex.getRequestURI().getPath()
            + " "
            + URLDecoder.decode(
                q.substring(q.indexOf("remote_url=") + 11), StandardCharsets.UTF_8));
    byte[] body = answer.get().getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status.get(), body.length);
    ex.getResponseBody().write(body);
    ex.close();
  }

  private URI httpServer() throws IOException {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    s.createContext("/", this::handle);
    s.start();
    servers.add(() -> s.stop(0));
    return URI.create("http://127.0.0.1:" + s.getAddress().getPort() + "/v1/credentials");
  }

  @Test
  void httpModeAsksWithTheRemoteUrlMatchesTheAnswerAsCredJsonAndCachesIt() throws Exception {
    AuthServerSource s = AuthServerSource.http(httpServer(), Duration.ofSeconds(1), null);
    assertThat(s.lookup(blob("team/app")))
        .hasValueSatisfying(
            c -> {
              assertThat(c.username()).isEqualTo("alice");
              assertThat(c.password()).isEqualTo(PASSWORD);
            });
    assertThat(s.lookup(blob("team/app"))).isPresent();
    assertThat(asked).containsExactly("/v1/credentials " + blob("team/app").uri());
    assertThat(s.lookup(blob("solo/app"))).as("no entry matches").isEmpty();
  }

  @Test
  void aRefusalIsCachedBrieflyAndAServerThatFailsIsNotCachedButUnavailable() throws Exception {
    AuthServerSource s = AuthServerSource.http(httpServer(), Duration.ofSeconds(1), null);
    answer.set("{\"traceId\":\"t-2\",\"success\":false}");
    assertThat(s.lookup(blob("team/app"))).isEmpty();
    assertThat(s.lookup(blob("team/app"))).isEmpty();
    assertThat(asked).hasSize(1);
    assertThat(logLines.lines())
        .anyMatch(l -> l.contains("refused (success is not true, traceId t-2)"));

    status.set(503);
    assertThatThrownBy(() -> s.lookup(blob("team/other")))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessageContaining("credentials of reg.io/team/other: answered 503");
    status.set(200);
    answer.set(
        "{\"success\":true,\"data\":{\"auths\":{\"reg.io\":{\"auth\":\"" + PASSWORD + "\"}}}}");
    // a malformed entry: warned about by its key, never its value
    assertThat(s.lookup(blob("team/other"))).isEmpty();
    answer.set("not json " + PASSWORD);
    assertThatThrownBy(() -> s.lookup(blob("team/third")))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessageEndingWith("its answer is not JSON")
        .hasMessageNotContaining(PASSWORD);
  }

  @Test
  void anAuthServerThatDoesNotAnswerInTimeIsUnavailable() throws Exception {
    HttpServer slow = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    slow.createContext(
        "/",
        ex -> {
          try {
            Thread.sleep(5000);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          ex.close();
        });
    slow.start();
    servers.add(() -> slow.stop(0));
    AuthServerSource s =
        AuthServerSource.http(
            URI.create("http://127.0.0.1:" + slow.getAddress().getPort() + "/auth"),
            Duration.ofMillis(300),
            null);
    long start = System.nanoTime();
    assertThatThrownBy(() -> s.lookup(blob("team/app")))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessageContaining("within 300 ms");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
  }

  @Test
  void udsModeSendsTheSameRequestOverAUnixSocket() throws Exception {
    Path socket = dir.resolve("auth.sock");
    List<String> requests = Collections.synchronizedList(new ArrayList<>());
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    servers.add(server);
    Thread t =
        new Thread(
            () -> {
              try {
                while (true) {
                  try (SocketChannel c = server.accept()) {
                    ByteBuffer in = ByteBuffer.allocate(16384);
                    String req = "";
                    while (!req.contains("\r\n\r\n") && c.read(in) > 0) {
                      req = new String(in.array(), 0, in.position(), StandardCharsets.US_ASCII);
                    }
                    requests.add(req);
                    // chunked, as Go's net/http answers when it does not know the length
                    byte[] body = answer.get().getBytes(StandardCharsets.UTF_8);
                    String head =
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            + "Transfer-Encoding: chunked\r\n\r\n";
                    int half = body.length / 2;
                    ByteBuffer out = ByteBuffer.allocate(body.length + 200);
                    out.put(head.getBytes(StandardCharsets.US_ASCII));
                    out.put(
                        (Integer.toHexString(half) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.put(body, 0, half).put("\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.put(
                        (Integer.toHexString(body.length - half) + "\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
                    out.put(body, half, body.length - half);
                    out.put("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flip();
                    while (out.hasRemaining()) {
                      c.write(out);
                    }
                  }
                }
              } catch (IOException e) {
                // closed at the end of the test
              }
            });
    t.setDaemon(true);
    t.start();
    AuthServerSource s = AuthServerSource.unixSocket(socket, Duration.ofSeconds(1));
    assertThat(s.lookup(blob("team/app")))
        .hasValueSatisfying(c -> assertThat(c.password()).isEqualTo(PASSWORD));
    assertThat(requests).hasSize(1);
    String encoded =
        java.net.URLEncoder.encode(blob("team/app").uri().toString(), StandardCharsets.UTF_8);
    assertThat(requests.get(0))
        .startsWith("GET /auth?remote_url=" + encoded + " HTTP/1.1\r\n")
        .contains("\r\nHost: localhost\r\n");

    assertThatThrownBy(
            () ->
                AuthServerSource.unixSocket(dir.resolve("none.sock"), Duration.ofSeconds(1))
                    .lookup(blob("team/app")))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessageStartingWith(
            "ask auth server on "
                + dir.resolve("none.sock")
                + " for credentials of reg.io/team/app");
  }

  @Test
  void httpsModePresentsTheClientCertificateAndTrustsOnlyTheGivenCa() throws Exception {
    Requirements.openssl();
    Path ca = dir.resolve("ca.pem");
    Path caKey = dir.resolve("ca.key");
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        caKey,
        "-out",
        ca,
        "-days",
        "1",
        "-subj",
        "/CN=obd-test-ca");
    Path serverKey = dir.resolve("server.key");
    Path serverCert = signed("server", serverKey, ca, caKey, "subjectAltName=IP:127.0.0.1", false);
    Path clientKey = dir.resolve("client.key");
    // PKCS#1 ("BEGIN RSA PRIVATE KEY"), as older tools write client keys
    Path clientCert = signed("client", clientKey, ca, caKey, "extendedKeyUsage=clientAuth", true);
    assertThat(Files.readString(clientKey)).contains("BEGIN RSA PRIVATE KEY");

    SSLContext serverTls = Pem.sslContext(serverCert, serverKey, ca);
    HttpsServer https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    https.setHttpsConfigurator(
        new HttpsConfigurator(serverTls) {
          @Override
          public void configure(HttpsParameters params) {
            SSLParameters p = serverTls.getDefaultSSLParameters();
            p.setNeedClientAuth(true);
            params.setSSLParameters(p);
          }
        });
    List<String> subjects = Collections.synchronizedList(new ArrayList<>());
    https.createContext(
        "/",
        ex -> {
          try {
            subjects.add(
                ((com.sun.net.httpserver.HttpsExchange) ex)
                    .getSSLSession()
                    .getPeerPrincipal()
                    .getName());
          } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            subjects.add("none");
          }
          handle(ex);
        });
    https.start();
    servers.add(() -> https.stop(0));
    URI url = URI.create("https://127.0.0.1:" + https.getAddress().getPort() + "/auth");

    CredentialSource s =
        new CredentialSettings(
                CredentialSettings.Mode.HTTPS,
                url.toString(),
                Duration.ofSeconds(5),
                clientCert,
                clientKey,
                ca,
                dir.resolve("cred.json"),
                dir.resolve("config.json"))
            .open();
    assertThat(s.lookup(blob("team/app")))
        .hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("alice"));
    assertThat(subjects).containsExactly("CN=client");

    // without the client certificate the server refuses the handshake; without the CA we refuse
    AuthServerSource noCert =
        AuthServerSource.http(url, Duration.ofSeconds(5), Pem.sslContext(null, null, ca));
    assertThatThrownBy(() -> noCert.lookup(blob("team/app")))
        .isInstanceOf(RegistryUnavailableException.class);
    AuthServerSource noCa =
        AuthServerSource.http(
            url, Duration.ofSeconds(5), Pem.sslContext(clientCert, clientKey, null));
    assertThatThrownBy(() -> noCa.lookup(blob("team/app")))
        .isInstanceOf(RegistryUnavailableException.class);
    assertThat(asked).hasSize(1);

    assertThatThrownBy(() -> Pem.sslContext(clientCert, ca, ca))
        .hasMessage(
            ca
                + ": no PEM private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY); an EC"
                + " key can be converted with: openssl pkcs8 -topk8 -nocrypt");
  }

  @Test
  void aRegistryWantingCredentialsOnlyTheAuthServerHasIsReadWithThem() throws Exception {
    byte[] blobBytes = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    String basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    HttpServer registry = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    registry.createContext(
        "/v2/",
        ex -> {
          if (!basic.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"test\"");
            ex.sendResponseHeaders(401, -1);
          } else {
            ex.getResponseHeaders().add("Content-Range", "bytes 2-5/" + blobBytes.length);
            ex.sendResponseHeaders(206, 4);
            ex.getResponseBody().write(blobBytes, 2, 4);
          }
          ex.close();
        });
    registry.start();
    servers.add(() -> registry.stop(0));
    String host = "127.0.0.1:" + registry.getAddress().getPort();
    answer.set(
        "{\"success\":true,\"data\":{\"auths\":{\""
            + host
            + "\":{\"username\":\"alice\",\"password\":\""
            + PASSWORD
            + "\"}}}}");
    CredentialSource source =
        new CredentialSettings(
                CredentialSettings.Mode.HTTP,
                httpServer().toString(),
                Duration.ofSeconds(1),
                null,
                null,
                null,
                dir.resolve("cred.json"),
                dir.resolve("config.json"))
            .open();
    RegistryClient client = TokenRefreshTest.client(dir, source);
    BlobUrl b = BlobUrl.of("http://" + host + "/v2/team/app/blobs", DIGEST);
    assertThat(client.read(b, 2, 4)).isEqualTo("2345".getBytes(StandardCharsets.US_ASCII));
    assertThat(asked).containsExactly("/v1/credentials " + b.uri());
  }

  private Path signed(String name, Path key, Path ca, Path caKey, String ext, boolean pkcs1)
      throws Exception {
    if (pkcs1) {
      openssl("genrsa", "-traditional", "-out", key, "2048");
    } else {
      openssl("genrsa", "-out", key, "2048");
    }
    Path csr = dir.resolve(name + ".csr");
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + name);
    Path extFile = dir.resolve(name + ".ext");
    Files.writeString(extFile, ext + "\n");
    Path cert = dir.resolve(name + ".pem");
    openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        caKey,
        "-CAcreateserial",
        "-out",
        cert,
        "-days",
        "1",
        "-extfile",
        extFile);
    return cert;
  }

  private static void openssl(Object... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add("openssl");
    for (Object a : args) {
      cmd.add(a.toString());
    }
    Mounts.run(cmd, null);
  }

  /** Skips a test whose tool is missing. */
  private static final class Requirements {
    static void openssl() {
      dev.obd.testsupport.Requirements.requireCommand("openssl");
    }
  }
}
