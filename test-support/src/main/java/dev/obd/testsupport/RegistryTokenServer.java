package dev.obd.testsupport;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The token service of a registry in token mode, as Docker Hub and most registries work:
 * docker-registry has none of its own, so this small HTTP server checks one user's Basic
 * credentials at {@code /token} and issues RS256 JWTs (x5c header) for pull and push on the scope's
 * repository, signed with a key whose certificate the registry trusts ({@link #registryAuthYaml}).
 * Stopped by {@link #close}.
 */
public final class RegistryTokenServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Tokens issued so far. */
  public final AtomicInteger issued = new AtomicInteger();

  /**
   * How long docker-registry accepts a token. It allows 60 s of clock skew past the {@code exp}
   * claim (distribution's {@code token.Leeway}), so {@code exp} is set that much earlier.
   */
  public volatile long validSeconds = 300;

  private final HttpServer server;
  private final PrivateKey key;
  private final Path certPem;
  private final String certDer;
  private final String user;
  private final String password;

  private RegistryTokenServer(Path keyPem, Path certPem, String user, String password)
      throws IOException, GeneralSecurityException {
    this.user = user;
    this.password = password;
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
                      .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
          byte[] body;
          int status;
          if (!expected.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
            status = 401;
            body = "{\"details\":\"bad credentials\"}".getBytes(StandardCharsets.UTF_8);
          } else {
            List<String> repos = new ArrayList<>();
            for (String scope : query(ex.getRequestURI(), "scope")) {
              for (String one : scope.split(" ")) {
                String[] parts = one.split(":");
                if (parts.length == 3 && parts[0].equals("repository")) {
                  repos.add(parts[1]);
                }
              }
            }
            status = 200;
            body =
                ("{\"token\":\"" + token(repos) + "\",\"expires_in\":300}")
                    .getBytes(StandardCharsets.UTF_8);
            issued.incrementAndGet();
          }
          ex.sendResponseHeaders(status, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    server.start();
  }

  /**
   * Starts a token server for {@code user}, with a signing key and certificate openssl makes in
   * {@code dir}.
   */
  public static RegistryTokenServer start(Path dir, String user, String password)
      throws IOException {
    Requirements.requireCommand("openssl");
    Files.createDirectories(dir);
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
    try {
      return new RegistryTokenServer(key, cert, user, password);
    } catch (GeneralSecurityException e) {
      throw new IOException("load the token server's key", e);
    }
  }

  /** docker-registry's "auth:" section for tokens from this server. */
  public String registryAuthYaml() {
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

  public URI url() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  /** A token for pull and push on {@code repo}, as the server issues them. */
  public String token(String repo) throws IOException {
    return token(List.of(repo));
  }

  /**
   * A token for pull and push on each of {@code repos}: the scopes a request names (a
   * cross-repository mount names two), space-separated in one parameter or in several.
   */
  private String token(List<String> repos) throws IOException {
    try {
      long now = System.currentTimeMillis() / 1000;
      Map<String, Object> header = new LinkedHashMap<>();
      header.put("typ", "JWT");
      header.put("alg", "RS256");
      header.put("x5c", List.of(certDer));
      Map<String, Object> claims = new LinkedHashMap<>();
      claims.put("iss", "obd-test-issuer");
      claims.put("sub", user);
      claims.put("aud", "obd-test-registry");
      claims.put("exp", now + validSeconds - 60);
      claims.put("nbf", now - 90);
      claims.put("iat", now);
      claims.put("jti", UUID.randomUUID().toString());
      List<Map<String, Object>> access = new ArrayList<>();
      for (String repo : repos) {
        access.add(Map.of("type", "repository", "name", repo, "actions", List.of("pull", "push")));
      }
      claims.put("access", access);
      Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
      String signingInput =
          b64.encodeToString(JSON.writeValueAsBytes(header))
              + "."
              + b64.encodeToString(JSON.writeValueAsBytes(claims));
      Signature s = Signature.getInstance("SHA256withRSA");
      s.initSign(key);
      s.update(signingInput.getBytes(StandardCharsets.US_ASCII));
      return signingInput + "." + b64.encodeToString(s.sign());
    } catch (GeneralSecurityException e) {
      throw new IOException(e);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private static byte[] pem(Path file, String type) throws IOException {
    String text = Files.readString(file);
    String begin = "-----BEGIN " + type + "-----";
    int from = text.indexOf(begin);
    int to = text.indexOf("-----END " + type + "-----");
    return Base64.getDecoder()
        .decode(text.substring(from + begin.length(), to).replaceAll("\\s", ""));
  }

  private static List<String> query(URI uri, String name) {
    List<String> values = new ArrayList<>();
    if (uri.getRawQuery() == null) {
      return values;
    }
    for (String kv : uri.getRawQuery().split("&")) {
      int eq = kv.indexOf('=');
      if (eq > 0 && kv.substring(0, eq).equals(name)) {
        values.add(URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    return values;
  }
}
