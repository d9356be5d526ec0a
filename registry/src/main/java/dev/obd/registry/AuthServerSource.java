package dev.obd.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import dev.obd.configfile.BoundedJsonFile;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Logger;
import javax.net.ssl.SSLContext;

/**
 * Credentials from an auth server, upstream's {@code credentialConfig} modes {@code http}, {@code
 * https} and {@code uds}: {@code GET <path>?remote_url=<blob url>} (over a unix socket: {@code
 * http://localhost/auth?remote_url=...}), answered with {@code {"success": true, "data": {"auths":
 * {...}}}}, whose entries are matched as {@code cred.json}'s are ({@link CredentialStore}).
 *
 * <p>Answers are cached per registry host and repository, at most {@link #MAX_ENTRIES}: an answer
 * with credentials for {@link #FOUND_TTL}, a refusal ({@code success} false, a 4xx, no matching
 * entry) for {@link #REFUSED_TTL}, so that a pod's secret that appears later is found soon. A
 * server that does not answer in time, cannot be reached or answers 5xx is not cached: the lookup
 * fails as {@link RegistryUnavailableException}, which the client retries until its read deadline.
 * Thread-safe; never logs or reports a secret or the answer's body.
 */
public final class AuthServerSource implements CredentialSource {
  private static final Logger LOG = Logger.getLogger(AuthServerSource.class.getName());
  private static final ObjectMapper JSON = BoundedJsonFile.mapper(BoundedJsonFile.MAX_DEPTH);
  static final int MAX_ENTRIES = 10_000;
  static final Duration FOUND_TTL = Duration.ofMinutes(5);
  static final Duration REFUSED_TTL = Duration.ofSeconds(10);

  /** Sends the request for one remote URL; answers the status and body. */
  private interface Transport {
    UnixSocketHttp.Answer get(String remoteUrl, Duration timeout) throws IOException;
  }

  private final String name;
  private final Duration timeout;
  private final Transport transport;
  private final Cache<String, Answer> answers =
      ExpiringCache.build(MAX_ENTRIES, a -> a.credentials().isEmpty() ? REFUSED_TTL : FOUND_TTL);

  private record Answer(Optional<Credentials> credentials) {}

  private AuthServerSource(String name, Duration timeout, Transport transport) {
    this.name = name;
    this.timeout = timeout;
    this.transport = transport;
  }

  /**
   * An auth server at {@code url} ({@code http://} or {@code https://}).
   *
   * @param tls for https: the client certificate and the CAs to trust; null for the JDK's defaults
   */
  public static AuthServerSource http(URI url, Duration timeout, SSLContext tls) {
    HttpClient.Builder b =
        HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(timeout);
    if (tls != null) {
      b.sslContext(tls);
    }
    HttpClient http = b.build();
    String base = url.toString();
    String sep = base.contains("?") ? "&" : "?";
    return new AuthServerSource(
        "auth server " + url.getScheme() + "://" + url.getRawAuthority() + url.getRawPath(),
        timeout,
        (remoteUrl, t) -> {
          HttpRequest request =
              HttpRequest.newBuilder(URI.create(base + sep + "remote_url=" + enc(remoteUrl)))
                  .timeout(t)
                  .header("Accept", "application/json")
                  .GET()
                  .build();
          CompletableFuture<HttpResponse<byte[]>> answer =
              http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
          try {
            HttpResponse<byte[]> r = answer.get(t.toNanos(), TimeUnit.NANOSECONDS);
            return new UnixSocketHttp.Answer(r.statusCode(), r.body());
          } catch (TimeoutException e) {
            answer.cancel(true);
            throw new SocketTimeoutException("no complete answer within " + t.toMillis() + " ms");
          } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof HttpTimeoutException) {
              throw new SocketTimeoutException("no answer within " + t.toMillis() + " ms");
            }
            throw c instanceof IOException io ? io : new IOException(String.valueOf(c), c);
          } catch (InterruptedException e) {
            answer.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted");
          }
        });
  }

  /** An auth server on the unix socket {@code socket}, asked for {@code /auth}. */
  public static AuthServerSource unixSocket(Path socket, Duration timeout) {
    return new AuthServerSource(
        "auth server on " + socket,
        timeout,
        (remoteUrl, t) -> UnixSocketHttp.get(socket, "/auth?remote_url=" + enc(remoteUrl), t));
  }

  @Override
  public Optional<Credentials> lookup(BlobUrl blob) throws IOException {
    String key = blob.host() + "/" + blob.repository();
    try {
      // concurrent lookups of one repository (every read thread at attach) share one request
      return answers
          .get(
              key,
              k -> {
                try {
                  return ask(blob);
                } catch (IOException e) {
                  throw new UncheckedIOException(e);
                }
              })
          .credentials();
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
  }

  private Answer ask(BlobUrl blob) throws IOException {
    String what = "ask " + name + " for credentials of " + blob.host() + "/" + blob.repository();
    UnixSocketHttp.Answer r;
    try {
      r = transport.get(blob.uri().toString(), timeout);
    } catch (IOException e) {
      if (Thread.currentThread().isInterrupted()) {
        throw e; // not the server's answer (a timeout is an InterruptedIOException too)
      }
      throw new RegistryUnavailableException(
          what + ": " + e.getClass().getSimpleName() + ": " + e.getMessage(), e);
    }
    if (r.status() >= 500 || r.status() == 429) {
      throw new RegistryUnavailableException(what + ": answered " + r.status(), null);
    }
    if (r.status() != 200) {
      LOG.warning(what + ": answered " + r.status() + "; asking the registry without them");
      return new Answer(Optional.empty());
    }
    JsonNode json;
    try {
      json = JSON.readTree(r.body());
    } catch (IOException e) {
      // never the body: it may hold a secret
      throw new RegistryUnavailableException(what + ": its answer is not JSON", null);
    }
    if (json == null || !json.isObject()) {
      throw new RegistryUnavailableException(what + ": its answer is not a JSON object", null);
    }
    if (!json.path("success").asBoolean(false)) {
      LOG.warning(
          what
              + ": refused (success is not true"
              + (json.hasNonNull("traceId")
                  ? ", traceId " + BoundedJsonFile.oneLine(json.get("traceId").asText(), 100)
                  : "")
              + "); asking the registry without them");
      return new Answer(Optional.empty());
    }
    Map<String, Credentials> auths = CredentialStore.auths(json.path("data").path("auths"), name);
    return new Answer(CredentialStore.match(auths, blob));
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
