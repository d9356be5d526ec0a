package dev.obd.backstore.it;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback HTTP/1.1 proxy in front of a real docker-registry that simulates a faulty network or
 * registry on command: it delays answers, cuts bodies short (closing the connection, or leaving it
 * open as a stuck peer would), flips bits in a body, or answers 500 or 401 itself. The registry
 * behind it is real; only what travels between the two is altered, and only for blob GETs (the data
 * plane's range reads). One request per connection ({@code Connection: close}).
 *
 * <p>Thread-safe: a test changes the fault while the backstore reads. {@link #close} ends every
 * connection, including stalled ones.
 */
final class FaultyProxy implements AutoCloseable {
  /** What happens to a blob GET. */
  enum Kind {
    /** Forwarded unchanged. */
    NONE,
    /** Forwarded after {@code delay}. */
    DELAY,
    /** Full Content-Length announced, half the body sent, connection closed. */
    TRUNCATE_AND_CLOSE,
    /**
     * Full Content-Length announced, half the body sent, then nothing more until the peer hangs up.
     */
    TRUNCATE_AND_STALL,
    /** One bit inverted in every 4 KiB of the body, so every block it carries is damaged. */
    FLIP_BYTE,
    /** Answered 500 by the proxy. */
    ANSWER_500,
    /** Answered 401 with a Basic challenge by the proxy, as a registry whose auth was turned on. */
    ANSWER_401
  }

  /** A fault and, for {@link Kind#DELAY}, how long. */
  record Fault(Kind kind, Duration delay) {
    static final Fault NONE = new Fault(Kind.NONE, Duration.ZERO);

    static Fault of(Kind kind) {
      return new Fault(kind, Duration.ZERO);
    }

    static Fault delay(Duration d) {
      return new Fault(Kind.DELAY, d);
    }
  }

  private static final Set<String> FORWARDED_HEADERS =
      Set.of("range", "authorization", "accept", "user-agent");
  private static final Set<String> RETURNED_HEADERS =
      Set.of(
          "content-type",
          "content-range",
          "docker-content-digest",
          "docker-distribution-api-version",
          "www-authenticate",
          "location",
          "etag");

  private final URI upstream;
  private final ServerSocket server;
  private final ExecutorService pool =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "faulty-proxy");
            t.setDaemon(true);
            return t;
          });
  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .followRedirects(HttpClient.Redirect.NEVER)
          .connectTimeout(Duration.ofSeconds(5))
          .build();
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();

  private volatile Fault fault = Fault.NONE;

  /** Requests left under {@link #fault}; negative means until {@link #heal}. */
  private final AtomicInteger faultsLeft = new AtomicInteger(-1);

  private final AtomicInteger blobGets = new AtomicInteger();
  private final AtomicInteger faulted = new AtomicInteger();
  private final AtomicLong bodyBytes = new AtomicLong();

  private FaultyProxy(URI upstream, ServerSocket server) {
    this.upstream = upstream;
    this.server = server;
  }

  /** Starts a proxy on a free loopback port forwarding to {@code upstream} (http://host:port). */
  static FaultyProxy start(URI upstream) throws IOException {
    ServerSocket s = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
    FaultyProxy p = new FaultyProxy(upstream, s);
    p.pool.execute(p::acceptLoop);
    return p;
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort());
  }

  /** Every blob GET from now on suffers {@code f}, until {@link #heal}. */
  void inject(Fault f) {
    faultsLeft.set(-1);
    fault = f;
  }

  /** The next {@code requests} blob GETs suffer {@code f}; later ones pass unchanged. */
  void injectNext(Fault f, int requests) {
    faultsLeft.set(requests);
    fault = f;
  }

  void heal() {
    fault = Fault.NONE;
    faultsLeft.set(-1);
  }

  /** Blob GETs received so far. */
  int blobGets() {
    return blobGets.get();
  }

  /** Blob GETs that suffered a fault so far. */
  int faulted() {
    return faulted.get();
  }

  /** Client connections open now (a stalled one stays open until the client hangs up). */
  int openConnections() {
    return open.size();
  }

  /** Body bytes of blob GETs sent to clients (whole or in part). */
  long bodyBytes() {
    return bodyBytes.get();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        open.add(s);
        pool.execute(() -> serve(s));
      } catch (IOException e) {
        return; // closed
      }
    }
  }

  /** The fault for the next blob GET, counting down a limited injection. */
  private Fault take() {
    Fault f = fault;
    if (f.kind() == Kind.NONE) {
      return f;
    }
    int left = faultsLeft.getAndUpdate(n -> n > 0 ? n - 1 : n);
    if (left == 0) {
      return Fault.NONE;
    }
    return f;
  }

  private void serve(Socket s) {
    try (s) {
      s.setSoTimeout(120_000);
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      Request req = readRequest(in);
      if (req == null) {
        return;
      }
      boolean blobGet = req.method().equals("GET") && req.path().contains("/blobs/sha256:");
      Fault f = Fault.NONE;
      if (blobGet) {
        blobGets.incrementAndGet();
        f = take();
        if (f.kind() != Kind.NONE) {
          faulted.incrementAndGet();
        }
      }
      switch (f.kind()) {
        case ANSWER_500 -> {
          writeHead(out, 500, "Internal Server Error", Map.of(), 0);
          return;
        }
        case ANSWER_401 -> {
          byte[] body =
              "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}"
                  .getBytes(StandardCharsets.UTF_8);
          writeHead(
              out,
              401,
              "Unauthorized",
              Map.of(
                  "WWW-Authenticate",
                  "Basic realm=\"obd-test\"",
                  "Content-Type",
                  "application/json"),
              body.length);
          out.write(body);
          return;
        }
        case DELAY -> Thread.sleep(f.delay().toMillis());
        default -> {}
      }
      HttpResponse<byte[]> resp = forward(req);
      Map<String, String> headers = new LinkedHashMap<>();
      resp.headers()
          .map()
          .forEach(
              (k, v) -> {
                if (RETURNED_HEADERS.contains(k.toLowerCase(Locale.ROOT)) && !v.isEmpty()) {
                  headers.put(k, v.get(0));
                }
              });
      byte[] body = resp.body();
      long length =
          req.method().equals("HEAD")
              ? resp.headers().firstValueAsLong("Content-Length").orElse(0)
              : body.length;
      writeHead(out, resp.statusCode(), "", headers, length);
      if (req.method().equals("HEAD")) {
        return;
      }
      switch (f.kind()) {
        case TRUNCATE_AND_CLOSE -> {
          out.write(body, 0, body.length / 2);
          countBody(blobGet, body.length / 2);
        }
        case TRUNCATE_AND_STALL -> {
          out.write(body, 0, body.length / 2);
          out.flush();
          countBody(blobGet, body.length / 2);
          // a stuck peer: nothing more until the client gives up and closes, or close()
          while (in.read() >= 0) {
            // discard
          }
        }
        case FLIP_BYTE -> {
          for (int i = 100; i < body.length; i += 4096) {
            body[i] ^= (byte) 0x01;
          }
          out.write(body);
          countBody(blobGet, body.length);
        }
        default -> {
          out.write(body);
          countBody(blobGet, body.length);
        }
      }
      out.flush();
    } catch (SocketTimeoutException | SocketException e) {
      // the client hung up or close() ended the connection
    } catch (IOException e) {
      // the upstream registry is unreachable: the client sees its connection closed
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      open.remove(s);
    }
  }

  private void countBody(boolean blobGet, long n) {
    if (blobGet) {
      bodyBytes.addAndGet(n);
    }
  }

  private HttpResponse<byte[]> forward(Request req) throws IOException, InterruptedException {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(upstream.resolve(req.path()))
            .timeout(Duration.ofSeconds(30))
            .method(req.method(), HttpRequest.BodyPublishers.noBody());
    req.headers()
        .forEach(
            (k, v) -> {
              if (FORWARDED_HEADERS.contains(k)) {
                b.header(k, v);
              }
            });
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private static void writeHead(
      OutputStream out, int status, String reason, Map<String, String> headers, long length)
      throws IOException {
    StringBuilder h = new StringBuilder();
    h.append("HTTP/1.1 ").append(status).append(' ').append(reason).append("\r\n");
    headers.forEach((k, v) -> h.append(k).append(": ").append(v).append("\r\n"));
    h.append("Content-Length: ").append(length).append("\r\n");
    h.append("Connection: close\r\n\r\n");
    out.write(h.toString().getBytes(StandardCharsets.ISO_8859_1));
  }

  private record Request(String method, String path, Map<String, String> headers) {}

  /** Reads a request head (no body: the data plane sends none); null when the peer hung up. */
  private static Request readRequest(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        return null;
      }
      head.write(c);
      matched = (c == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (c == '\r' ? 1 : 0);
      if (head.size() > 65536) {
        throw new IOException("request head too long");
      }
    }
    List<String> lines = List.of(head.toString(StandardCharsets.ISO_8859_1).split("\r\n"));
    String[] first = lines.get(0).split(" ");
    Map<String, String> headers = new LinkedHashMap<>();
    for (String l : lines.subList(1, lines.size())) {
      int colon = l.indexOf(':');
      if (colon > 0) {
        headers.put(
            l.substring(0, colon).trim().toLowerCase(Locale.ROOT), l.substring(colon + 1).trim());
      }
    }
    return new Request(first[0], first[1], headers);
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (Socket s : open) {
      s.close();
    }
    pool.shutdownNow();
    try {
      pool.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
