package dev.obd.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Logger;

/**
 * Reads byte ranges of registry blobs over HTTP: anonymous, Basic or Bearer-token auth discovered
 * from the registry's challenge, redirects followed and remembered (the redirect target is used
 * without the registry's Authorization header, as upstream does), mirrors tried before the
 * registry, an optional P2P proxy prefix. Transient failures are retried with backoff until the
 * read deadline, then the read fails: a registry outage surfaces as EIO, not a hang.
 *
 * <p>Thread-safe; one instance serves all devices of the daemon. Credentials never appear in log
 * lines or exception messages.
 */
public final class RegistryClient {
  private static final Logger LOG = Logger.getLogger(RegistryClient.class.getName());
  private static final ObjectMapper JSON = new ObjectMapper();

  private final RegistrySettings settings;
  private final CredentialStore credentials;
  private final HttpClient http;

  /** Resolved redirect targets per blob URL (without auth), kept 5 minutes as upstream does. */
  private final Cache<URI, URI> redirects =
      Caffeine.newBuilder().expireAfterWrite(300, TimeUnit.SECONDS).maximumSize(10_000).build();

  /** Authorization header value per host/repository. */
  private final Cache<String, String> authorization =
      Caffeine.newBuilder().expireAfterWrite(60, TimeUnit.SECONDS).maximumSize(10_000).build();

  private final LongAdder bytesFetched = new LongAdder();
  private final LongAdder requests = new LongAdder();

  public RegistryClient(RegistrySettings settings, CredentialStore credentials) {
    this.settings = settings;
    this.credentials = credentials;
    this.http =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(settings.connectTimeout())
            .build();
  }

  public RegistrySettings settings() {
    return settings;
  }

  /** Total bytes of blob data received from registries, mirrors and redirect targets. */
  public long bytesFetched() {
    return bytesFetched.sum();
  }

  public long requests() {
    return requests.sum();
  }

  /** The blob's size, from the registry's answer to a one-byte range request. */
  public long size(BlobUrl blob) throws IOException {
    Range r = fetch(blob, 0, 1, "read the size of " + blob.describe());
    return r.total;
  }

  /**
   * Reads {@code length} bytes at {@code offset}.
   *
   * @throws RegistryException when the registry refuses (permanent) or stays unreachable past the
   *     read deadline
   */
  public byte[] read(BlobUrl blob, long offset, int length) throws IOException {
    Range r =
        fetch(
            blob,
            offset,
            length,
            "read " + length + " bytes at " + offset + " of " + blob.describe());
    if (r.data.length != length) {
      throw new RegistryException(
          "read "
              + length
              + " bytes at "
              + offset
              + " of "
              + blob.describe()
              + ": registry sent "
              + r.data.length
              + " bytes",
          false,
          206,
          null);
    }
    return r.data;
  }

  private record Range(byte[] data, long total) {}

  private Range fetch(BlobUrl blob, long offset, int length, String what) throws IOException {
    long deadline = System.nanoTime() + settings.readDeadline().toNanos();
    long backoffMillis = 50;
    RegistryException last = null;
    while (true) {
      for (URI endpoint : endpoints(blob)) {
        try {
          return attempt(blob, endpoint, offset, length, what);
        } catch (RegistryException e) {
          if (e.permanent()) {
            throw e;
          }
          last = e;
          redirects.invalidate(endpoint);
        }
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new RegistryException(
            what
                + ": gave up after "
                + settings.readDeadline().toMillis()
                + " ms: "
                + last.getMessage(),
            false,
            last.status(),
            last);
      }
      LOG.fine(what + ": retrying in " + backoffMillis + " ms after: " + last.getMessage());
      sleep(Math.min(backoffMillis, TimeUnit.NANOSECONDS.toMillis(left) + 1));
      backoffMillis = Math.min(backoffMillis * 2, 2000);
    }
  }

  /** Mirrors of the blob's host first, then the registry itself; each behind the P2P prefix. */
  List<URI> endpoints(BlobUrl blob) {
    List<URI> out = new ArrayList<>();
    String pathAndQuery = blob.uri().getRawPath();
    for (RegistrySettings.Mirror m : settings.mirrors()) {
      if (m.host().equals(blob.host())) {
        out.add(p2p(URI.create(stripSlash(m.endpoint()) + pathAndQuery)));
      }
    }
    out.add(p2p(blob.uri()));
    return out;
  }

  private URI p2p(URI uri) {
    if (settings.p2pAddress().isEmpty()) {
      return uri;
    }
    return URI.create(stripSlash(settings.p2pAddress()) + "/" + uri);
  }

  private static String stripSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }

  private Range attempt(BlobUrl blob, URI endpoint, long offset, int length, String what)
      throws IOException {
    String scopeKey = endpoint.getRawAuthority() + "/" + blob.repository();
    boolean authRetried = false;
    for (int hop = 0; hop < 6; hop++) {
      URI redirected = redirects.getIfPresent(endpoint);
      URI target = redirected != null ? redirected : endpoint;
      HttpRequest.Builder rb =
          HttpRequest.newBuilder(target)
              .timeout(settings.requestTimeout())
              .header("Range", "bytes=" + offset + "-" + (offset + length - 1))
              .GET();
      String auth = redirected == null ? authorization.getIfPresent(scopeKey) : null;
      if (auth != null) {
        rb.header("Authorization", auth);
      }
      HttpResponse<byte[]> resp = send(rb.build(), what, target);
      int status = resp.statusCode();
      if (status == 206 || status == 200) {
        return range(resp, offset, length, what);
      }
      if (status >= 300 && status < 400) {
        Optional<String> location = resp.headers().firstValue("Location");
        if (location.isEmpty()) {
          throw new RegistryException(
              what + ": redirect " + status + " without Location", false, status, null);
        }
        redirects.put(endpoint, target.resolve(location.get()));
        continue;
      }
      if ((status == 401 || status == 403) && redirected == null && !authRetried) {
        authRetried = true;
        authorization.put(scopeKey, authenticate(blob, resp, what));
        continue;
      }
      if (status == 401 || status == 403) {
        Optional<Credentials> c = credentials.lookup(blob);
        throw new RegistryException(
            what
                + ": registry answered "
                + status
                + " ("
                + (c.isPresent()
                    ? "authentication failed for user '" + c.get().username() + "'"
                    : "no credentials configured for " + blob.host() + "/" + blob.repository())
                + ")",
            true,
            status,
            null);
      }
      if (status == 404) {
        throw new RegistryException(
            what + ": registry answered 404 (no such blob)", true, status, null);
      }
      throw new RegistryException(
          what + ": " + target.getRawAuthority() + " answered " + status, false, status, null);
    }
    throw new RegistryException(what + ": too many redirects", false, 0, null);
  }

  private Range range(HttpResponse<byte[]> resp, long offset, int length, String what)
      throws RegistryException {
    byte[] body = resp.body();
    bytesFetched.add(body.length);
    if (resp.statusCode() == 200) {
      // A server that ignores Range sends the whole blob; take our slice of it.
      if (body.length < offset + length) {
        throw new RegistryException(
            what + ": registry ignored the range and sent a short body", false, 200, null);
      }
      byte[] slice = new byte[length];
      System.arraycopy(body, (int) offset, slice, 0, length);
      return new Range(slice, body.length);
    }
    String cr = resp.headers().firstValue("Content-Range").orElse("");
    long total = -1;
    long start = -1;
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)").matcher(cr);
    if (m.matches()) {
      start = Long.parseLong(m.group(1));
      total = m.group(3).equals("*") ? -1 : Long.parseLong(m.group(3));
    }
    if (start != offset) {
      throw new RegistryException(
          what + ": registry answered range '" + cr + "'", false, 206, null);
    }
    return new Range(body, total);
  }

  private HttpResponse<byte[]> send(HttpRequest request, String what, URI target)
      throws RegistryException {
    requests.increment();
    try {
      return http.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException e) {
      throw new RegistryException(
          what
              + ": no answer from "
              + target.getRawAuthority()
              + " within "
              + settings.requestTimeout().toMillis()
              + " ms",
          false,
          0,
          e);
    } catch (ConnectException e) {
      throw new RegistryException(
          what
              + ": cannot connect to "
              + target.getRawAuthority()
              + " ("
              + e.getClass().getSimpleName()
              + ")",
          false,
          0,
          e);
    } catch (IOException e) {
      throw new RegistryException(
          what + ": request to " + target.getRawAuthority() + " failed: " + e, false, 0, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RegistryException(what + ": interrupted", true, 0, e);
    }
  }

  /** Answers a 401/403 challenge; returns the Authorization header value to use. */
  private String authenticate(BlobUrl blob, HttpResponse<byte[]> resp, String what)
      throws IOException {
    Optional<Credentials> creds = credentials.lookup(blob);
    AuthChallenge challenge =
        AuthChallenge.parse(resp.headers().firstValue("WWW-Authenticate").orElse(null))
            .orElseThrow(
                () ->
                    new RegistryException(
                        what + ": registry answered " + resp.statusCode() + " without a challenge",
                        true,
                        resp.statusCode(),
                        null));
    if (challenge.isBasic()) {
      return creds
          .orElseThrow(
              () ->
                  new RegistryException(
                      what
                          + ": registry requires authentication and no credentials are configured for "
                          + blob.host()
                          + "/"
                          + blob.repository(),
                      true,
                      resp.statusCode(),
                      null))
          .basicHeader();
    }
    if (!challenge.isBearer() || !challenge.params().containsKey("realm")) {
      throw new RegistryException(
          what + ": unsupported auth challenge '" + challenge.scheme() + "'",
          true,
          resp.statusCode(),
          null);
    }
    String realm = challenge.params().get("realm");
    String service = challenge.params().getOrDefault("service", "");
    String scope =
        challenge.params().getOrDefault("scope", "repository:" + blob.repository() + ":pull");
    URI tokenUri =
        URI.create(
            realm
                + (realm.contains("?") ? "&" : "?")
                + "service="
                + enc(service)
                + "&scope="
                + enc(scope));
    HttpRequest.Builder tb =
        HttpRequest.newBuilder(tokenUri).timeout(settings.requestTimeout()).GET();
    creds.ifPresent(c -> tb.header("Authorization", c.basicHeader()));
    HttpResponse<byte[]> tokenResp =
        send(tb.build(), what + " (token from " + tokenUri.getRawAuthority() + ")", tokenUri);
    if (tokenResp.statusCode() == 401 || tokenResp.statusCode() == 403) {
      throw new RegistryException(
          what
              + ": token server answered "
              + tokenResp.statusCode()
              + " ("
              + creds
                  .map(c -> "authentication failed for user '" + c.username() + "'")
                  .orElse(
                      "anonymous access refused; no credentials configured for "
                          + blob.host()
                          + "/"
                          + blob.repository())
              + ")",
          true,
          tokenResp.statusCode(),
          null);
    }
    if (tokenResp.statusCode() != 200) {
      throw new RegistryException(
          what + ": token server answered " + tokenResp.statusCode(),
          false,
          tokenResp.statusCode(),
          null);
    }
    JsonNode json = JSON.readTree(tokenResp.body());
    String token =
        json.hasNonNull("token")
            ? json.get("token").asText()
            : json.path("access_token").asText("");
    if (token.isEmpty()) {
      throw new RegistryException(what + ": token server sent no token", true, 200, null);
    }
    return "Bearer " + token;
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static void sleep(long millis) throws RegistryException {
    try {
      Thread.sleep(Math.max(1, millis));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RegistryException("interrupted while waiting to retry", true, 0, e);
    }
  }

  /** Exposed for tests and stats: the configured read deadline. */
  public Duration readDeadline() {
    return settings.readDeadline();
  }
}
