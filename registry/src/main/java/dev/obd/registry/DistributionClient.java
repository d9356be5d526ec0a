package dev.obd.registry;

import com.github.benmanes.caffeine.cache.Cache;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The requests of the OCI distribution API that copying an image needs (manifests, blobs, uploads),
 * each authorised as the registry asks: anonymous, Basic, or a Bearer token for the scope the
 * registry's challenge names (pull, or pull and push). Credentials come from a {@link
 * CredentialSource}; plain HTTP is used only when the caller says so. Idempotent requests are
 * retried on connection failures, 429 and 5xx, three times with backoff; a refusal fails at once
 * with a message that names the registry, the repository and whose credentials were used.
 *
 * <p>Thread-safe. Never puts a credential or token into a message.
 */
public final class DistributionClient {
  /** Attempts of an idempotent request before a transient failure is final. */
  static final int ATTEMPTS = 4;

  private final CredentialSource credentials;
  private final boolean plainHttp;
  private final Duration requestTimeout;
  private final HttpClient http;

  /** Authorization per host/repository, each kept as long as it is good. */
  private final Cache<String, Authorization> authorization =
      ExpiringCache.build(1_000, Authorization::ttl);

  private record Authorization(String header, Optional<Credentials> from, Duration ttl) {
    @Override
    public String toString() {
      return "Authorization[<hidden>]";
    }
  }

  /**
   * @param plainHttp talk HTTP instead of HTTPS to every registry (for registries on a private
   *     network or a test machine)
   * @param requestTimeout how long one request may wait for the registry's answer (uploads get
   *     longer, in proportion to their size)
   */
  public DistributionClient(
      CredentialSource credentials, boolean plainHttp, Duration requestTimeout) {
    this.credentials = credentials;
    this.plainHttp = plainHttp;
    this.requestTimeout = requestTimeout;
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NEVER)
            .connectTimeout(requestTimeout);
    if (plainHttp) {
      // no h2c upgrade attempts on plain connections
      b.version(HttpClient.Version.HTTP_1_1);
    }
    this.http = b.build();
  }

  Duration requestTimeout() {
    return requestTimeout;
  }

  /** The URL of {@code path} (which starts with /v2/) on the registry of {@code ref}. */
  URI url(ImageReference ref, String path) {
    return URI.create((plainHttp ? "http://" : "https://") + ref.apiHost() + path);
  }

  /** One request as built, before authorization. */
  record Call(
      String method,
      URI uri,
      HttpRequest.BodyPublisher body,
      Map<String, String> headers,
      Duration timeout,
      boolean idempotent) {}

  /**
   * Sends {@code call} for repository {@code ref}, authorising as the registry asks, following
   * redirects (without our Authorization header, as docker does) and retrying transient failures of
   * idempotent calls. The answer's body is an open stream the caller must close; 4xx answers other
   * than 401 are returned for the caller to judge.
   *
   * @param what the operation, for messages
   * @throws RegistryDeniedException when the registry refuses after authenticating
   * @throws RegistryUnavailableException when it stays unreachable, or keeps failing with 5xx
   */
  HttpResponse<InputStream> send(ImageReference ref, Call call, String what) throws IOException {
    long backoff = 250;
    for (int attempt = 1; ; attempt++) {
      try {
        HttpResponse<InputStream> r = authorised(ref, call, what);
        int status = r.statusCode();
        if ((status == 429 || status >= 500) && call.idempotent() && attempt < ATTEMPTS) {
          r.body().close();
          sleep(backoff);
          backoff *= 2;
          continue;
        }
        if (status == 429 || status >= 500) {
          String detail = errorDetail(r);
          throw new RegistryUnavailableException(
              what + ": registry answered " + status + detail, null);
        }
        return r;
      } catch (RegistryUnavailableException e) {
        if (!call.idempotent() || attempt >= ATTEMPTS) {
          throw e;
        }
        sleep(backoff);
        backoff *= 2;
      }
    }
  }

  private HttpResponse<InputStream> authorised(ImageReference ref, Call call, String what)
      throws IOException {
    String key = ref.apiHost() + "/" + ref.repository();
    boolean retried = false;
    while (true) {
      Authorization auth = authorization.getIfPresent(key);
      HttpResponse<InputStream> r = follow(call, auth, what);
      int status = r.statusCode();
      if (status != 401) {
        return r;
      }
      String challengeHeader = r.headers().firstValue("WWW-Authenticate").orElse(null);
      r.body().close();
      Optional<Credentials> creds = lookup(ref);
      if (retried) {
        throw new RegistryDeniedException(
            what
                + ": registry answered 401 ("
                + (auth != null && auth.from().isPresent()
                    ? "authentication failed for " + auth.from().get().describe()
                    : "no credentials configured for " + key)
                + ")");
      }
      retried = true;
      AuthChallenge challenge =
          AuthChallenge.parse(challengeHeader)
              .orElseThrow(
                  () ->
                      new RegistryDeniedException(
                          what + ": registry answered 401 without a challenge"));
      authorization.put(key, authenticate(ref, challenge, creds, call, what));
    }
  }

  private Optional<Credentials> lookup(ImageReference ref) throws IOException {
    // credential sources look blobs up by registry host and repository; any digest will do
    return credentials.lookup(
        BlobUrl.of(
            url(ref, "/v2/" + ref.repository() + "/blobs").toString(), "sha256:" + "0".repeat(64)));
  }

  private Authorization authenticate(
      ImageReference ref,
      AuthChallenge challenge,
      Optional<Credentials> creds,
      Call call,
      String what)
      throws IOException {
    String repo = ref.apiHost() + "/" + ref.repository();
    if (challenge.isBasic()) {
      return new Authorization(
          TokenExchange.basicHeader(creds, what, repo), creds, TokenExchange.DEFAULT_TTL);
    }
    TokenExchange.requireAnswerable(challenge, what);
    String access =
        call.method().equals("GET") || call.method().equals("HEAD") ? "pull" : "pull,push";
    HttpRequest request =
        TokenExchange.request(
            challenge,
            creds,
            "repository:" + ref.repository() + ":" + access,
            "obdctl",
            requestTimeout);
    HttpResponse<byte[]> answer;
    try {
      answer = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw unavailable(what + " (token from " + request.uri().getRawAuthority() + ")", e);
    } catch (InterruptedException e) {
      throw interrupted(what, e);
    }
    TokenExchange.Token token = TokenExchange.read(answer, creds, what, repo);
    return new Authorization(token.header(), creds, token.ttl());
  }

  /** Sends {@code call}, following up to 5 redirects; a redirect target gets no Authorization. */
  private HttpResponse<InputStream> follow(Call call, Authorization auth, String what)
      throws IOException {
    URI target = call.uri();
    boolean redirected = false;
    for (int hop = 0; hop < 6; hop++) {
      HttpRequest.Builder b =
          HttpRequest.newBuilder(target).timeout(call.timeout()).method(call.method(), call.body());
      call.headers().forEach(b::header);
      if (auth != null && !redirected) {
        b.header("Authorization", auth.header());
      }
      HttpResponse<InputStream> r;
      try {
        r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
      } catch (HttpTimeoutException e) {
        throw new RegistryUnavailableException(
            what
                + ": no answer from "
                + target.getRawAuthority()
                + " within "
                + call.timeout().toMillis()
                + " ms",
            e);
      } catch (IOException e) {
        throw unavailable(what, e);
      } catch (InterruptedException e) {
        throw interrupted(what, e);
      }
      int status = r.statusCode();
      boolean isRedirect =
          status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
      if (!isRedirect || !(call.method().equals("GET") || call.method().equals("HEAD"))) {
        return r;
      }
      Optional<String> location = r.headers().firstValue("Location");
      r.body().close();
      if (location.isEmpty()) {
        throw new RegistryUnavailableException(
            what + ": redirect " + status + " without Location", null);
      }
      target = target.resolve(location.get());
      redirected = true;
    }
    throw new RegistryUnavailableException(what + ": too many redirects", null);
  }

  /**
   * The registry's error text of a failed answer (the distribution API's {@code errors} JSON, at
   * most 300 characters) as " (text)", or "" when it sent none. Closes the body.
   */
  static String errorDetail(HttpResponse<InputStream> r) {
    try (InputStream in = r.body()) {
      byte[] b = in.readNBytes(4096);
      String s = new String(b, java.nio.charset.StandardCharsets.UTF_8).strip();
      if (s.isEmpty()) {
        return "";
      }
      s = s.replaceAll("\\s+", " ");
      return " (" + (s.length() > 300 ? s.substring(0, 300) + "…" : s) + ")";
    } catch (IOException e) {
      return "";
    }
  }

  /** The media type of a Content-Type header without its parameters, lower case. */
  static String mediaType(HttpResponse<?> r) {
    String ct = r.headers().firstValue("Content-Type").orElse("");
    int semi = ct.indexOf(';');
    return (semi >= 0 ? ct.substring(0, semi) : ct).strip().toLowerCase(Locale.ROOT);
  }

  private static RegistryUnavailableException unavailable(String what, IOException e) {
    return new RegistryUnavailableException(
        what
            + ": request failed: "
            + e.getClass().getSimpleName()
            + (e.getMessage() == null ? "" : " " + e.getMessage()),
        e);
  }

  private static void sleep(long millis) throws InterruptedIOException {
    try {
      TimeUnit.MILLISECONDS.sleep(millis);
    } catch (InterruptedException e) {
      throw interrupted("waiting to retry", e);
    }
  }

  private static InterruptedIOException interrupted(String what, InterruptedException cause) {
    Thread.currentThread().interrupt();
    InterruptedIOException e = new InterruptedIOException(what + ": interrupted");
    e.initCause(cause);
    return e;
  }
}
