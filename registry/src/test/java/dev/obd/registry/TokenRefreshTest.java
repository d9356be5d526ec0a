package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bearer tokens that expire: a registry on loopback that accepts a token only for the lifetime its
 * token server gave it ({@code expires_in}), and can revoke all tokens. A read after the expiry
 * gets a new token first; a read with a token the registry no longer takes authenticates again once
 * and succeeds; refused credentials fail clearly.
 */
class TokenRefreshTest {
  private static final String DIGEST = "sha256:" + "ab".repeat(32);
  private static final String PASSWORD = "refresh-Pw-77";
  private static final byte[] BLOB = "the blob's sixteen bytes".getBytes(StandardCharsets.US_ASCII);

  @TempDir Path dir;
  private HttpServer server;
  private final AtomicInteger issued = new AtomicInteger();
  private final AtomicInteger challenged = new AtomicInteger();
  private final AtomicLong revokedBefore = new AtomicLong();
  private volatile long lifetimeMillis = 1000;
  private volatile String password = PASSWORD;
  private volatile boolean anonymous;
  private final Map<String, Long> tokens = new ConcurrentHashMap<>();
  private final List<String> grants = Collections.synchronizedList(new ArrayList<>());
  private LogLines logLines;

  @BeforeEach
  void start() throws IOException {
    logLines = LogLines.capture("dev.obd.registry");
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/token", this::token);
    server.createContext("/v2/", this::blob);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
    logLines.close();
    assertThat(logLines.lines()).noneMatch(l -> l.contains(PASSWORD) || l.contains("tok-"));
  }

  private void token(HttpExchange ex) throws IOException {
    String basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString(("alice:" + password).getBytes(StandardCharsets.UTF_8));
    boolean ok;
    if (ex.getRequestMethod().equals("POST")) {
      String form = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      grants.add(form.replaceAll("refresh_token=[^&]*", "refresh_token=<t>"));
      ok =
          form.contains("grant_type=refresh_token")
              && form.contains("refresh_token=id-" + password);
    } else {
      ok = basic.equals(ex.getRequestHeaders().getFirst("Authorization"));
    }
    if (!ok) {
      ex.sendResponseHeaders(401, -1);
      ex.close();
      return;
    }
    String t = "tok-" + issued.incrementAndGet();
    tokens.put(t, System.nanoTime());
    String key = ex.getRequestMethod().equals("POST") ? "access_token" : "token";
    byte[] body =
        new ObjectMapper().writeValueAsBytes(Map.of(key, t, "expires_in", lifetimeMillis / 1000.0));
    ex.sendResponseHeaders(200, body.length);
    ex.getResponseBody().write(body);
    ex.close();
  }

  private void blob(HttpExchange ex) throws IOException {
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    Long since = auth == null ? null : tokens.get(auth.replaceFirst("^Bearer ", ""));
    long now = System.nanoTime();
    boolean refused =
        since == null
            || now - since > Duration.ofMillis(lifetimeMillis).toNanos()
            || since < revokedBefore.get();
    if (refused && !anonymous) {
      challenged.incrementAndGet();
      ex.getResponseHeaders()
          .add(
              "WWW-Authenticate",
              "Bearer realm=\"http://127.0.0.1:"
                  + server.getAddress().getPort()
                  + "/token\",service=\"test\",scope=\"repository:team/app:pull\"");
      ex.sendResponseHeaders(401, -1);
      ex.close();
      return;
    }
    ex.getResponseHeaders().add("Content-Range", "bytes 0-3/" + BLOB.length);
    ex.sendResponseHeaders(206, 4);
    ex.getResponseBody().write(BLOB, 0, 4);
    ex.close();
  }

  private RegistryClient client(CredentialSource source) {
    return client(dir, source);
  }

  /** A client with short timeouts, credentials from {@code source}, no mirrors. */
  static RegistryClient client(Path dir, CredentialSource source) {
    return new RegistryClient(
        new RegistrySettings(
            dir.resolve("cred.json"),
            dir.resolve("config.json"),
            Duration.ofSeconds(2),
            Duration.ofSeconds(2),
            Duration.ofSeconds(5),
            List.of(),
            ""),
        source);
  }

  private CredentialStore credJson(String user, String secretKey, String secret)
      throws IOException {
    Files.writeString(
        dir.resolve("cred.json"),
        "{\"auths\":{\"127.0.0.1:"
            + server.getAddress().getPort()
            + "\":{"
            + (user == null ? "" : "\"username\":\"" + user + "\",")
            + "\""
            + secretKey
            + "\":\""
            + secret
            + "\"}}}");
    return new CredentialStore(dir.resolve("cred.json"), dir.resolve("config.json"));
  }

  private BlobUrl blobUrl() {
    return BlobUrl.of(
        "http://127.0.0.1:" + server.getAddress().getPort() + "/v2/team/app/blobs", DIGEST);
  }

  @Test
  void aReadAfterTheTokensExpiresInGetsANewTokenFirst() throws Exception {
    RegistryClient client = client(credJson("alice", "password", PASSWORD));
    assertThat(client.read(blobUrl(), 0, 4)).isEqualTo("the ".getBytes(StandardCharsets.US_ASCII));
    assertThat(issued.get()).isEqualTo(1);
    assertThat(challenged.get()).as("the first request only").isEqualTo(1);
    assertThat(client.read(blobUrl(), 0, 4)).hasSize(4);
    assertThat(issued.get()).as("the token is reused while it lasts").isEqualTo(1);

    Thread.sleep(lifetimeMillis + 200);
    assertThat(client.read(blobUrl(), 0, 4)).hasSize(4);
    assertThat(issued.get()).isEqualTo(2);
    assertThat(challenged.get()).as("asked before the registry refused it").isEqualTo(1);
  }

  @Test
  void aCachedTokenTheRegistryRefusesIsReplacedOnceAndTheReadSucceeds() throws Exception {
    lifetimeMillis = 300_000;
    RegistryClient client = client(credJson("alice", "password", PASSWORD));
    client.read(blobUrl(), 0, 4);
    revokedBefore.set(System.nanoTime());
    assertThat(client.read(blobUrl(), 0, 4)).hasSize(4);
    assertThat(issued.get()).isEqualTo(2);
    assertThat(challenged.get()).isEqualTo(2);

    // the credentials changed at the token server: one new attempt, then a clear refusal
    revokedBefore.set(System.nanoTime());
    password = "rotated";
    assertThatThrownBy(() -> client.read(blobUrl(), 0, 4))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessageContaining("token server answered 401 (authentication failed for user 'alice')")
        .hasMessageNotContaining(PASSWORD)
        .hasMessageNotContaining("tok-");
    assertThat(issued.get()).isEqualTo(2);
  }

  @Test
  void anIdentityTokenIsExchangedForAnAccessTokenWithTheRefreshTokenGrant() throws Exception {
    RegistryClient client = client(credJson(null, "identitytoken", "id-" + PASSWORD));
    assertThat(client.read(blobUrl(), 0, 4)).hasSize(4);
    assertThat(grants)
        .containsExactly(
            "grant_type=refresh_token&client_id=obd-backstore&service=test"
                + "&scope=repository%3Ateam%2Fapp%3Apull&refresh_token=<t>");
    password = "rotated";
    revokedBefore.set(System.nanoTime());
    assertThatThrownBy(() -> client.read(blobUrl(), 0, 4))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessageContaining("authentication failed for an identity token")
        .hasMessageNotContaining(PASSWORD);
  }

  @Test
  void aRegistryThatStoppedAskingForAuthIsReadAnonymouslyWhenANewTokenIsRefused() throws Exception {
    RegistryClient client = client(credJson("alice", "password", PASSWORD));
    client.read(blobUrl(), 0, 4);
    anonymous = true;
    password = "rotated";
    Thread.sleep(lifetimeMillis + 200);
    assertThat(client.read(blobUrl(), 0, 4)).hasSize(4);
  }

  @Test
  void tokenLifetimesFollowExpiresInWithAMarginAndDefaultToAMinute() {
    ObjectMapper json = new ObjectMapper();
    assertThat(TokenExchange.lifetime(json.getNodeFactory().numberNode(300)))
        .isEqualTo(Duration.ofSeconds(290));
    assertThat(TokenExchange.lifetime(json.getNodeFactory().numberNode(2)))
        .isEqualTo(Duration.ofMillis(1600));
    assertThat(TokenExchange.lifetime(json.getNodeFactory().numberNode(86400)))
        .isEqualTo(Duration.ofHours(1));
    assertThat(TokenExchange.lifetime(json.missingNode())).isEqualTo(Duration.ofSeconds(60));
    assertThat(TokenExchange.lifetime(json.getNodeFactory().numberNode(0)))
        .isEqualTo(Duration.ofSeconds(60));
  }
}
