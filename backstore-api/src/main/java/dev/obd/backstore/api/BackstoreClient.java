package dev.obd.backstore.api;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URLEncoder;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Java client of the obd-backstore control API, for the snapshotter and obdctl. One HTTP/1.1
 * request per unix-socket connection; every call has a deadline. Thread-safe.
 *
 * <pre>
 * BackstoreClient c = new BackstoreClient(Path.of("/run/obd-backstore/backstore.sock"));
 * DeviceInfo d = c.add(Path.of(".../block/config.v1.json"), Duration.ofSeconds(90));
 * mount(d.device()) ... c.remove(d.device(), Duration.ofSeconds(30));
 * </pre>
 */
public final class BackstoreClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ExecutorService CALLS =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r, "backstore-client");
            t.setDaemon(true);
            return t;
          });

  private final Path socket;

  public BackstoreClient(Path socket) {
    this.socket = socket;
  }

  /**
   * Attaches the device of {@code config} (idempotent) and returns it.
   *
   * @throws BackstoreFailedException with the daemon's reason, e.g. "attach device for config
   *     /x/config.v1.json: open lowers[0] (...): registry answered 401 (...)"
   * @throws InvalidRequestException when the daemon cannot read the config
   */
  public DeviceInfo add(Path config, Duration deadline) throws BackstoreApiException {
    String body;
    try {
      body = JSON.writeValueAsString(Map.of("config", config.toAbsolutePath().toString()));
    } catch (IOException e) {
      throw new InvalidRequestException("encode request", e);
    }
    return decode(call("POST", "/v1/devices", body, deadline), new TypeReference<DeviceInfo>() {});
  }

  /**
   * Removes the device named by its id, block device path or config path.
   *
   * @throws DeviceNotFoundException when there is no such device (any more)
   * @throws DeviceInUseException when it is mounted
   */
  public void remove(String key, Duration deadline) throws BackstoreApiException {
    call("DELETE", "/v1/devices?key=" + enc(key), null, deadline);
  }

  public DeviceInfo get(String key, Duration deadline) throws BackstoreApiException {
    return decode(
        call("GET", "/v1/devices?key=" + enc(key), null, deadline),
        new TypeReference<DeviceInfo>() {});
  }

  public List<DeviceInfo> list(Duration deadline) throws BackstoreApiException {
    return decode(
        call("GET", "/v1/devices", null, deadline), new TypeReference<List<DeviceInfo>>() {});
  }

  /**
   * Checks that the daemon can read blob {@code digest} of {@code size} bytes under {@code
   * repoBlobUrl} (a config.v1.json's {@code repoBlobUrl} and lower) with its credentials and
   * mirrors, asking the registry (not its cache).
   *
   * @throws BlobAccessDeniedException when the registry refuses the daemon's credentials
   * @throws BlobNotFoundException when the registry has no such blob
   * @throws RegistryUnreachableException when the daemon could not reach the registry
   * @throws BackstoreUnavailableException when the daemon does not answer
   */
  public void checkBlob(String repoBlobUrl, String digest, long size, Duration deadline)
      throws BackstoreApiException {
    String body;
    try {
      body =
          JSON.writeValueAsString(
              Map.of("repoBlobUrl", repoBlobUrl, "digest", digest, "size", size));
    } catch (IOException e) {
      throw new InvalidRequestException("encode request", e);
    }
    call(Endpoint.BLOBS, "POST", "/v1/blobs/check", body, deadline);
  }

  /**
   * Hands the daemon credentials for the blobs of one repository, which it keeps in memory only
   * until they expire and asks before its configured sources (see {@link RegistryCredential}).
   * Credentials pushed again for the same repository replace the earlier ones. The secret travels
   * only in the request body, and no message of this client shows it.
   *
   * @throws InvalidRequestException when the daemon refuses them as malformed
   * @throws BackstoreUnavailableException when the daemon does not answer
   */
  public void putCredentials(RegistryCredential credential, Duration deadline)
      throws BackstoreApiException {
    Map<String, Object> body = new java.util.LinkedHashMap<>();
    body.put("host", credential.host());
    body.put("repository", credential.repository());
    if (credential.identityToken()) {
      body.put("identityToken", credential.secret());
    } else {
      body.put("username", credential.username());
      body.put("password", credential.secret());
    }
    body.put("expiresAt", credential.expiresAt().toEpochMilli());
    String json;
    try {
      json = JSON.writeValueAsString(body);
    } catch (IOException e) {
      // never e's message: it may quote the value
      throw new InvalidRequestException("encode credentials for " + credential.host(), null);
    }
    call("PUT", "/v1/credentials", json, deadline);
  }

  /** The daemon's attach mode ("nbd" or "fuse"), counters, and which run of it answers. */
  public DaemonInfo info(Duration deadline) throws BackstoreApiException {
    return decode(call("GET", "/v1/info", null, deadline), new TypeReference<DaemonInfo>() {});
  }

  /** Whether a daemon answers on {@code socket}. */
  public static boolean answers(Path socket) {
    try {
      new BackstoreClient(socket).info(Duration.ofSeconds(2));
      return true;
    } catch (BackstoreUnavailableException e) {
      return false;
    } catch (BackstoreApiException e) {
      return true;
    }
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static <T> T decode(String body, TypeReference<T> type) throws BackstoreApiException {
    try {
      return JSON.readValue(body, type);
    } catch (IOException e) {
      throw new BackstoreFailedException(
          "unreadable answer from obd-backstore: " + e.getMessage(), e);
    }
  }

  private String call(String method, String path, String body, Duration deadline)
      throws BackstoreApiException {
    return call(Endpoint.DEVICES, method, path, body, deadline);
  }

  private String call(Endpoint endpoint, String method, String path, String body, Duration deadline)
      throws BackstoreApiException {
    String what = method + " " + path + " on " + socket;
    Future<String> f = CALLS.submit(() -> exchange(endpoint, method, path, body));
    try {
      return f.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      f.cancel(true);
      throw new BackstoreUnavailableException(what + ": no answer within " + deadline, e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof BackstoreApiException b) {
        throw b;
      }
      throw new BackstoreUnavailableException(
          what + ": obd-backstore unreachable: " + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BackstoreUnavailableException(what + ": interrupted", e);
    }
  }

  private String exchange(Endpoint endpoint, String method, String path, String body)
      throws IOException {
    byte[] payload = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    String head =
        method
            + " "
            + path
            + " HTTP/1.1\r\nHost: obd-backstore\r\nConnection: close\r\n"
            + (body == null ? "" : "Content-Type: application/json\r\n")
            + "Content-Length: "
            + payload.length
            + "\r\n\r\n";
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ByteBuffer out = ByteBuffer.allocate(head.length() + payload.length);
      out.put(head.getBytes(StandardCharsets.US_ASCII)).put(payload).flip();
      while (out.hasRemaining()) {
        ch.write(out);
      }
      ByteArrayOutputStream in = new ByteArrayOutputStream();
      ByteBuffer buf = ByteBuffer.allocate(65536);
      while (ch.read(buf) >= 0) {
        buf.flip();
        in.write(buf.array(), 0, buf.limit());
        buf.clear();
      }
      String resp = in.toString(StandardCharsets.UTF_8);
      int sep = resp.indexOf("\r\n\r\n");
      if (!resp.startsWith("HTTP/1.1 ") || sep < 0) {
        throw new IOException("malformed HTTP answer");
      }
      int status = Integer.parseInt(resp.substring(9, 12));
      String content = resp.substring(sep + 4);
      if (status >= 300) {
        String message = content;
        try {
          JsonNode n = JSON.readTree(content);
          message = n.path("error").asText(content);
        } catch (IOException e) {
          // not JSON: use the text as it is
        }
        throw refusal(endpoint, status, message);
      }
      return content;
    }
  }

  /** Which endpoints answered: their statuses mean different things. */
  enum Endpoint {
    /** {@code /v1/devices} and {@code /v1/info}: 404 is no such device. */
    DEVICES,
    /** {@code /v1/blobs/check}: 403 is a refusal, 404 no such blob, 503 an unreachable registry. */
    BLOBS
  }

  /** As {@link #refusal(Endpoint, int, String)} for the device endpoints. */
  static BackstoreApiException refusal(int status, String message) {
    return refusal(Endpoint.DEVICES, status, message);
  }

  /**
   * The one place where an error status of the daemon becomes a typed exception: 400 invalid
   * request, 404 no such device, 409 device in use, anything else (500) a failure in the daemon; on
   * the blob check 403 access denied, 404 no such blob, 503 registry unreachable.
   */
  static BackstoreApiException refusal(Endpoint endpoint, int status, String message) {
    if (endpoint == Endpoint.BLOBS) {
      switch (status) {
        case 403:
          return new BlobAccessDeniedException(message);
        case 404:
          return new BlobNotFoundException(message);
        case 503:
          return new RegistryUnreachableException(message);
        default:
          break;
      }
    }
    switch (status) {
      case 400:
        return new InvalidRequestException(message, null);
      case 404:
        return new DeviceNotFoundException(message);
      case 409:
        return new DeviceInUseException(message);
      default:
        return new BackstoreFailedException(message, null);
    }
  }
}
