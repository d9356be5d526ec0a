package dev.obd.registry;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Logger;

/**
 * Reads byte ranges of registry blobs over HTTP: anonymous, Basic or Bearer-token auth discovered
 * from the registry's challenge, redirects followed and remembered (the redirect target is used
 * without the registry's Authorization header, as upstream does), mirrors tried before the
 * registry, an optional P2P proxy prefix. Transient failures (no connection, no complete answer in
 * time, 5xx, short bodies) are retried with backoff until the read deadline, then the read fails: a
 * registry outage surfaces as EIO, not a hang. Every attempt, body included, ends by the deadline;
 * refusals (401/403 after authenticating, 404) fail at once.
 *
 * <p>Thread-safe; one instance serves all devices of the daemon. Credentials never appear in log
 * lines or exception messages.
 */
public final class RegistryClient {
  private static final Logger LOG = Logger.getLogger(RegistryClient.class.getName());

  private final RegistrySettings settings;
  private final CredentialSource credentials;
  private final HttpClient http;

  /** Resolved redirect targets per blob URL (without auth), kept 5 minutes as upstream does. */
  private final Cache<URI, URI> redirects =
      Caffeine.newBuilder().expireAfterWrite(300, TimeUnit.SECONDS).maximumSize(10_000).build();

  /**
   * Authorization per host/repository, each kept as long as it is good: a bearer token until
   * shortly before the token server's {@code expires_in}, Basic credentials a minute (so that
   * changed credentials apply).
   */
  private final Cache<String, Authorization> authorization =
      ExpiringCache.build(10_000, Authorization::ttl);

  /**
   * The last challenge per host/repository, so that once its authorization expires a new one is
   * fetched before the next request instead of after a 401.
   */
  private final Cache<String, AuthChallenge> challenges =
      Caffeine.newBuilder().expireAfterWrite(1, TimeUnit.HOURS).maximumSize(10_000).build();

  /**
   * An Authorization header value, whose credentials it came from (for messages: "user 'alice'",
   * never a secret), and how long to use it.
   */
  private record Authorization(String header, Optional<Credentials> from, Duration ttl) {
    @Override
    public String toString() {
      return "Authorization[<hidden>]";
    }
  }

  /** Endpoints (host:port) on which a read recently gave up, by authority. */
  private final Map<String, Outage> outages = new ConcurrentHashMap<>();

  private final LongAdder bytesFetched = new LongAdder();
  private final LongAdder requests = new LongAdder();

  public RegistryClient(RegistrySettings settings, CredentialSource credentials) {
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
   * Whether the registry serves {@code blob} to us now, asked with a HEAD request (no blob byte is
   * transferred), with the credentials and mirrors a read would use: its size when the registry
   * says, -1 when it answers with a redirect to its storage (it has accepted the request then; a
   * presigned storage URL is valid for GET only, so it is not followed).
   *
   * @throws BlobNotFoundException when the registry has no such blob
   * @throws RegistryDeniedException when the registry refuses access
   * @throws RegistryUnavailableException when it stays unreachable past the read deadline
   */
  public long headSize(BlobUrl blob) throws IOException {
    return fetch(blob, 0, 0, "check " + blob.describe()).total;
  }

  /**
   * Reads {@code length} bytes at {@code offset}.
   *
   * @throws BlobNotFoundException when the registry has no such blob
   * @throws RegistryDeniedException when the registry refuses access
   * @throws RegistryUnavailableException when it stays unreachable past the read deadline
   */
  public byte[] read(BlobUrl blob, long offset, int length) throws IOException {
    Range r =
        fetch(
            blob,
            offset,
            length,
            "read " + length + " bytes at " + offset + " of " + blob.describe());
    if (r.data.length != length) {
      throw new RegistryUnavailableException(
          "read "
              + length
              + " bytes at "
              + offset
              + " of "
              + blob.describe()
              + ": registry sent "
              + r.data.length
              + " bytes",
          null);
    }
    return r.data;
  }

  private record Range(byte[] data, long total) {}

  private Range fetch(BlobUrl blob, long offset, int length, String what) throws IOException {
    long deadline = System.nanoTime() + settings.readDeadline().toNanos();
    long backoffMillis = 50;
    List<URI> endpoints = endpoints(blob);
    RegistryUnavailableException last = null;
    String reason = null;
    while (true) {
      boolean attempted = false;
      String held = null;
      for (URI endpoint : endpoints) {
        String authority = endpoint.getRawAuthority();
        Outage outage = outages.get(authority);
        if (outage != null && outage.holds(System.nanoTime())) {
          held = outage.describe(authority, System.nanoTime());
          continue;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          break;
        }
        attempted = true;
        boolean cutShort = left < settings.requestTimeout().toNanos();
        try {
          Range r =
              attempt(
                  blob,
                  endpoint,
                  offset,
                  length,
                  what,
                  Duration.ofNanos(Math.min(settings.requestTimeout().toNanos(), left)));
          outages.remove(authority);
          return r;
        } catch (RegistryUnavailableException e) {
          // an attempt the deadline cut short mostly fails for want of time: the failure before it
          // says more about the registry
          if (last == null || !cutShort) {
            last = e;
            reason = reason(e, what);
          }
          redirects.invalidate(endpoint);
        }
      }
      long now = System.nanoTime();
      if (now >= deadline) {
        String why = reason != null ? reason : held;
        Outage o = new Outage(now, why);
        for (URI endpoint : endpoints) {
          outages.put(endpoint.getRawAuthority(), o);
        }
        throw new RegistryUnavailableException(
            what + ": gave up after " + settings.readDeadline().toMillis() + " ms: " + why, last);
      }
      if (!attempted) {
        // every endpoint gave up on a read moments ago: fail now instead of waiting out the
        // deadline again (the kernel retries a failed read at once; see Outage)
        throw new RegistryUnavailableException(what + ": not tried: " + held, last);
      }
      LOG.fine(what + ": retrying in " + backoffMillis + " ms after: " + reason);
      sleep(Math.min(backoffMillis, TimeUnit.NANOSECONDS.toMillis(deadline - now) + 1));
      backoffMillis = Math.min(backoffMillis * 2, 2000);
    }
  }

  /** The message of a failed attempt without its "what" prefix, which the caller adds again. */
  private static String reason(RegistryUnavailableException e, String what) {
    String m = e.getMessage();
    return m.startsWith(what + ": ") ? m.substring(what.length() + 2) : m;
  }

  /**
   * An endpoint on which a read just gave up at its deadline. For {@link #HOLD} afterwards, reads
   * fail at once instead of each waiting out the deadline again: the kernel answers a failed
   * readahead with an immediate synchronous re-read of the same pages, and a block request that
   * spans several cache chunks asks for each in turn, so without this one read(2) by a user would
   * wait a multiple of the deadline. After the hold the next read tries again; any success ends the
   * outage.
   */
  private record Outage(long sinceNanos, String reason) {
    static final long HOLD = TimeUnit.SECONDS.toNanos(1);

    boolean holds(long now) {
      return now - sinceNanos < HOLD;
    }

    String describe(String authority, long now) {
      return authority
          + " gave up on a read "
          + TimeUnit.NANOSECONDS.toMillis(now - sinceNanos)
          + " ms ago ("
          + reason
          + ")";
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

  private Range attempt(
      BlobUrl blob, URI endpoint, long offset, int length, String what, Duration timeout)
      throws IOException {
    String scopeKey = endpoint.getRawAuthority() + "/" + blob.repository();
    boolean authRetried = false;
    boolean redirectRetried = false;
    boolean head = length == 0;
    for (int hop = 0; hop < 6; hop++) {
      URI redirected = head ? null : redirects.getIfPresent(endpoint);
      URI target = redirected != null ? redirected : endpoint;
      HttpRequest.Builder rb = HttpRequest.newBuilder(target).timeout(timeout);
      if (head) {
        rb.method("HEAD", HttpRequest.BodyPublishers.noBody());
      } else {
        rb.header("Range", "bytes=" + offset + "-" + (offset + length - 1)).GET();
      }
      Authorization auth = null;
      if (redirected == null) {
        auth = authorization.getIfPresent(scopeKey);
        AuthChallenge known = auth == null ? challenges.getIfPresent(scopeKey) : null;
        if (known != null && known.isBearer()) {
          // the token expired (expires_in): a new one now, not a refused request first
          try {
            auth = authenticate(blob, known, what, timeout);
            authorization.put(scopeKey, auth);
          } catch (RegistryDeniedException e) {
            // perhaps the registry no longer wants auth at all: let its answer tell
            challenges.invalidate(scopeKey);
          }
        }
      }
      if (auth != null) {
        rb.header("Authorization", auth.header());
      }
      HttpResponse<byte[]> resp = send(rb.build(), what, target, timeout);
      int status = resp.statusCode();
      if (head && (status == 200 || status >= 300 && status < 400)) {
        long total =
            status == 200 ? resp.headers().firstValueAsLong("Content-Length").orElse(-1) : -1;
        return new Range(new byte[0], total);
      }
      if (status == 206 || status == 200) {
        return range(resp, offset, length, what);
      }
      if (status >= 300 && status < 400) {
        Optional<String> location = resp.headers().firstValue("Location");
        if (location.isEmpty()) {
          throw new RegistryUnavailableException(
              what + ": redirect " + status + " without Location", null);
        }
        redirects.put(endpoint, target.resolve(location.get()));
        continue;
      }
      if ((status == 401 || status == 403) && redirected != null && !redirectRetried) {
        // a signed redirect target that expired: ask the registry for a new one
        redirectRetried = true;
        redirects.invalidate(endpoint);
        continue;
      }
      if ((status == 401 || status == 403) && redirected == null && !authRetried) {
        // no authorization yet, or the cached token expired or was revoked: authenticate once
        authRetried = true;
        AuthChallenge challenge = challenge(resp, what);
        challenges.put(scopeKey, challenge);
        authorization.put(scopeKey, authenticate(blob, challenge, what, timeout));
        continue;
      }
      if (status == 401 || status == 403) {
        Optional<Credentials> c = auth != null ? auth.from() : credentials.lookup(blob);
        throw RegistryException.answered(
            RegistryException.Endpoint.BLOB,
            what,
            "registry",
            status,
            c.isPresent()
                ? "authentication failed for " + c.get().describe()
                : "no credentials configured for " + blob.host() + "/" + blob.repository());
      }
      if (status == 404) {
        throw RegistryException.answered(
            RegistryException.Endpoint.BLOB, what, "registry", status, "no such blob");
      }
      throw RegistryException.answered(
          RegistryException.Endpoint.BLOB, what, target.getRawAuthority(), status, "");
    }
    throw new RegistryUnavailableException(what + ": too many redirects", null);
  }

  private Range range(HttpResponse<byte[]> resp, long offset, int length, String what)
      throws RegistryUnavailableException {
    byte[] body = resp.body();
    bytesFetched.add(body.length);
    if (resp.statusCode() == 200) {
      // A server that ignores Range sends the whole blob; take our slice of it.
      if (body.length < offset + length) {
        throw new RegistryUnavailableException(
            what + ": registry ignored the range and sent a short body", null);
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
      throw new RegistryUnavailableException(what + ": registry answered range '" + cr + "'", null);
    }
    return new Range(body, total);
  }

  /**
   * Sends one request and waits at most {@code timeout} for the whole answer, body included. The
   * request's own timeout covers only the wait for the response headers (JDK HttpClient), so a peer
   * that sends headers and part of a body and then stalls would hold the read forever; the exchange
   * is cancelled instead, which closes its connection.
   */
  private HttpResponse<byte[]> send(HttpRequest request, String what, URI target, Duration timeout)
      throws RegistryUnavailableException, InterruptedIOException {
    requests.increment();
    CompletableFuture<HttpResponse<byte[]>> answer =
        http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
    try {
      return answer.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      answer.cancel(true);
      throw new RegistryUnavailableException(
          what
              + ": no complete answer from "
              + target.getRawAuthority()
              + " within "
              + timeout.toMillis()
              + " ms",
          e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof HttpTimeoutException) {
        throw new RegistryUnavailableException(
            what
                + ": no answer from "
                + target.getRawAuthority()
                + " within "
                + timeout.toMillis()
                + " ms",
            c);
      }
      if (c instanceof ConnectException) {
        throw new RegistryUnavailableException(
            what
                + ": cannot connect to "
                + target.getRawAuthority()
                + " ("
                + c.getClass().getSimpleName()
                + ")",
            c);
      }
      throw new RegistryUnavailableException(
          what + ": request to " + target.getRawAuthority() + " failed: " + c, c);
    } catch (InterruptedException e) {
      answer.cancel(true);
      Thread.currentThread().interrupt();
      throw interrupted(what + ": interrupted", e);
    }
  }

  /** The challenge of a 401/403 answer. */
  private static AuthChallenge challenge(HttpResponse<byte[]> resp, String what)
      throws RegistryDeniedException {
    return AuthChallenge.parse(resp.headers().firstValue("WWW-Authenticate").orElse(null))
        .orElseThrow(
            () ->
                new RegistryDeniedException(
                    what + ": registry answered " + resp.statusCode() + " without a challenge"));
  }

  /** Answers a challenge; returns the authorization to use. */
  private Authorization authenticate(
      BlobUrl blob, AuthChallenge challenge, String what, Duration timeout) throws IOException {
    Optional<Credentials> creds = credentials.lookup(blob);
    if (challenge.isBasic()) {
      return new Authorization(
          TokenExchange.basicHeader(creds, what, blob.host() + "/" + blob.repository()),
          creds,
          TokenExchange.DEFAULT_TTL);
    }
    TokenExchange.requireAnswerable(challenge, what);
    HttpRequest request =
        TokenExchange.request(
            challenge,
            creds,
            "repository:" + blob.repository() + ":pull",
            "obd-backstore",
            timeout);
    HttpResponse<byte[]> tokenResp =
        send(
            request,
            what + " (token from " + request.uri().getRawAuthority() + ")",
            request.uri(),
            timeout);
    TokenExchange.Token token =
        TokenExchange.read(tokenResp, creds, what, blob.host() + "/" + blob.repository());
    return new Authorization(token.header(), creds, token.ttl());
  }

  private static void sleep(long millis) throws InterruptedIOException {
    try {
      Thread.sleep(Math.max(1, millis));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw interrupted("interrupted while waiting to retry", e);
    }
  }

  /** An interrupted read: not the registry's answer, so not a {@link RegistryException}. */
  private static InterruptedIOException interrupted(String message, InterruptedException cause) {
    InterruptedIOException e = new InterruptedIOException(message);
    e.initCause(cause);
    return e;
  }
}
