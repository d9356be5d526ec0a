package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bearer-token auth as Docker Hub and most registries do it, with a real docker-registry in token
 * mode. The token server is the test's own small HTTP server (docker-registry has none): it checks
 * Basic credentials and issues RS256 JWTs signed with a key whose certificate the registry trusts.
 * The backstore must follow the 401 challenge to the realm, present the credentials from cred.json
 * there, and use the token for range reads.
 */
class BearerTokenAuthTest {
  private static final String PASSWORD = "tok-Pa55-secret";

  @TempDir Path dir;

  @Test
  void blobsBehindATokenServerAreReadWithTheTokenAndBadCredentialsAreRefusedClearly()
      throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("openssl");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 1, 1 << 20, 16L << 20);
    TokenServer tokens = tokenServer();
    int port = LocalRegistry.freePort();
    String auth = tokens.registryAuthYaml();
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry = new RegistryProcess(dir.resolve("reg"), port, auth).start();
        Mounts mounts = new Mounts()) {
      Path config = pushAndConfigure(registry, tokens, img, daemonDir, port);
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
        assertThat(tokens.issued.get()).as("tokens issued to the backstore").isPositive();

        Files.writeString(
            daemonDir.resolve("cred.json"),
            "{\"auths\":{\"127.0.0.1:"
                + port
                + "\":{\"username\":\"alice\",\"password\":\"nope\"}}}");
        Path other =
            Fixture.imageConfig(
                dir.resolve("snap2/config.v1.json"),
                Map.of(
                    "repoBlobUrl", registry.url() + "/v2/auth/img/blobs",
                    "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
                    "upper", Map.of()));
        // the cached token of the first device may still be valid; a new daemon asks again
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        daemon =
            BackstoreDaemon.start(
                Fixture.readConfig(
                    Fixture.daemonConfig(
                        daemonDir,
                        Map.of(
                            "cacheConfig", Map.of("cacheDir", dir.resolve("cache2").toString())))));
        BackstoreClient client2 = Fixture.client(daemonDir);
        assertThatThrownBy(() -> client2.add(other, Duration.ofSeconds(30)))
            .isInstanceOf(BackstoreApiException.class)
            .hasMessageContaining("token server answered 401")
            .hasMessageContaining("authentication failed for user 'alice'")
            .hasMessageNotContaining("nope");
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        tokens.stop();
      }
    }
  }

  @Test
  void aTokenThatExpiresDuringALongReadIsReplacedAndTheReadGoesOn() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("openssl");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 2, 1 << 20, 16L << 20);
    TokenServer tokens = tokenServer();
    int port = LocalRegistry.freePort();
    String auth = tokens.registryAuthYaml();
    Path daemonDir = dir.resolve("d");
    try (RegistryProcess registry = new RegistryProcess(dir.resolve("reg"), port, auth).start();
        Mounts mounts = new Mounts()) {
      Path config = pushAndConfigure(registry, tokens, img, daemonDir, port);
      // the registry takes a token 4 s, though the token server says 300 s: the backstore learns
      // of the expiry from the registry's 401 in the middle of the device's life
      tokens.validSeconds = 4;
      BackstoreDaemon daemon =
          BackstoreDaemon.start(Fixture.readConfig(Fixture.daemonConfig(daemonDir, Map.of())));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        int before = tokens.issued.get();
        Thread.sleep(5_000);
        // file1's blocks are not cached yet: they need the registry, and a new token
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt2"), img.source(), "data/file1.bin");
        assertThat(tokens.issued.get()).as("a token after the expiry").isGreaterThan(before);
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        tokens.stop();
      }
    }
  }

  /** A token server whose signing key and certificate openssl made in the test's directory. */
  private TokenServer tokenServer() throws Exception {
    Path key = dir.resolve("key.pem");
    Path cert = dir.resolve("cert.pem");
    Mounts.run(
        List.of(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.toString(),
            "-out",
            cert.toString(),
            "-days",
            "1",
            "-subj",
            "/CN=obd-test-token-issuer"),
        null);
    return new TokenServer(key, cert);
  }

  /**
   * Pushes the image's layer, writes alice's cred.json for the registry on {@code port} into {@code
   * daemonDir}, and returns the config.v1.json of a device on the layer.
   */
  private Path pushAndConfigure(
      RegistryProcess registry, TokenServer tokens, TestImages.Built img, Path daemonDir, int port)
      throws Exception {
    TestImages.push(
        registry.url(), "auth/img", img.blob(), img.digest(), "Bearer " + tokens.token("auth/img"));
    Files.createDirectories(daemonDir);
    Files.writeString(
        daemonDir.resolve("cred.json"),
        "{\"auths\":{\"127.0.0.1:"
            + port
            + "\":{\"username\":\"alice\",\"password\":\""
            + PASSWORD
            + "\"}}}");
    return Fixture.imageConfig(
        dir.resolve("snap/config.v1.json"),
        Map.of(
            "repoBlobUrl", registry.url() + "/v2/auth/img/blobs",
            "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
            "upper", Map.of()));
  }

  /** Issues registry JWTs (RS256, x5c header) for alice's Basic credentials. */
  static final class TokenServer {
    final AtomicInteger issued = new AtomicInteger();

    /**
     * How long docker-registry accepts a token. It allows 60 s of clock skew past the {@code exp}
     * claim (distribution's {@code token.Leeway}), so {@code exp} is set that much earlier.
     */
    volatile long validSeconds = 300;

    private final HttpServer server;
    private final PrivateKey key;
    private final Path certPem;
    private final String certDer;

    TokenServer(Path keyPem, Path certPem) throws Exception {
      key =
          KeyFactory.getInstance("RSA")
              .generatePrivate(new PKCS8EncodedKeySpec(pem(keyPem, "PRIVATE KEY")));
      this.certPem = certPem;
      certDer = Base64.getEncoder().encodeToString(pem(certPem, "CERTIFICATE"));
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.createContext(
          "/token",
          ex -> {
            String expected =
                "Basic "
                    + Base64.getEncoder()
                        .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
            byte[] body;
            int status;
            if (!expected.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
              status = 401;
              body = "{\"details\":\"bad credentials\"}".getBytes(StandardCharsets.UTF_8);
            } else {
              String scope = query(ex.getRequestURI(), "scope");
              String repo = scope.split(":")[1];
              status = 200;
              body =
                  ("{\"token\":\"" + token(repo) + "\",\"expires_in\":300}")
                      .getBytes(StandardCharsets.UTF_8);
              issued.incrementAndGet();
            }
            ex.sendResponseHeaders(status, body.length);
            ex.getResponseBody().write(body);
            ex.close();
          });
      server.start();
    }

    /** docker-registry's "auth:" section for tokens from this server. */
    String registryAuthYaml() {
      return String.join(
          "\n",
          "auth:",
          "  token:",
          "    realm: " + url() + "/token",
          "    service: obd-test-registry",
          "    issuer: obd-test-issuer",
          "    rootcertbundle: " + certPem,
          "");
    }

    URI url() {
      return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    String token(String repo) throws IOException {
      try {
        long now = System.currentTimeMillis() / 1000;
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("typ", "JWT");
        header.put("alg", "RS256");
        header.put("x5c", List.of(certDer));
        Map<String, Object> claims = new LinkedHashMap<>();
        claims.put("iss", "obd-test-issuer");
        claims.put("sub", "alice");
        claims.put("aud", "obd-test-registry");
        claims.put("exp", now + validSeconds - 60);
        claims.put("nbf", now - 90);
        claims.put("iat", now);
        claims.put("jti", UUID.randomUUID().toString());
        claims.put(
            "access",
            List.of(
                Map.of("type", "repository", "name", repo, "actions", List.of("pull", "push"))));
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String signingInput =
            b64.encodeToString(Fixture.JSON.writeValueAsBytes(header))
                + "."
                + b64.encodeToString(Fixture.JSON.writeValueAsBytes(claims));
        Signature s = Signature.getInstance("SHA256withRSA");
        s.initSign(key);
        s.update(signingInput.getBytes(StandardCharsets.US_ASCII));
        return signingInput + "." + b64.encodeToString(s.sign());
      } catch (java.security.GeneralSecurityException e) {
        throw new IOException(e);
      }
    }

    void stop() {
      server.stop(0);
    }

    private static byte[] pem(Path file, String type) throws IOException {
      String text = Files.readString(file);
      int from = text.indexOf("-----BEGIN " + type + "-----");
      int to = text.indexOf("-----END " + type + "-----");
      String b64 =
          text.substring(from + ("-----BEGIN " + type + "-----").length(), to)
              .replaceAll("\\s", "");
      return Base64.getDecoder().decode(b64);
    }

    private static String query(URI uri, String name) {
      for (String kv : uri.getRawQuery().split("&")) {
        int eq = kv.indexOf('=');
        if (eq > 0 && kv.substring(0, eq).equals(name)) {
          return URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
        }
      }
      return "";
    }
  }
}
