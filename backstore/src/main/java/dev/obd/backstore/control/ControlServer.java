package dev.obd.backstore.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DaemonInfo;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.RegistryCredential;
import dev.obd.backstore.device.BadDeviceConfigException;
import dev.obd.backstore.device.BlobDeniedException;
import dev.obd.backstore.device.BlobUnreachableException;
import dev.obd.backstore.device.DeviceBusyException;
import dev.obd.backstore.device.DeviceException;
import dev.obd.backstore.device.DeviceFailedException;
import dev.obd.backstore.device.NoSuchBlobException;
import dev.obd.backstore.device.NoSuchDeviceException;
import dev.obd.image.oci.Digest;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The daemon's control API: HTTP/1.1 with JSON bodies on a unix socket (0600, root only), usable
 * with {@code curl --unix-socket} and {@link BackstoreClient}.
 *
 * <pre>
 * POST   /v1/devices            {"config": "/abs/config.v1.json"} -> 200 DeviceInfo
 * GET    /v1/devices            -> 200 [DeviceInfo...]
 * GET    /v1/devices/{key}      -> 200 DeviceInfo  (key: id, device path or config path,
 *                                   URL-encoded; also ?key=...)
 * DELETE /v1/devices/{key}      -> 204
 * GET    /v1/info               -> 200 DaemonInfo
 * POST   /v1/blobs/check        {"repoBlobUrl": "https://host/v2/repo/blobs", "digest":
 *                                   "sha256:...", "size": n} -> 200 {"digest": ..., "readable": true}
 * PUT    /v1/credentials        {"host": "registry.example.com:5000", "repository": "team/app",
 *                                   "username": "...", "password": "..." | "identityToken": "...",
 *                                   "expiresAt": epoch ms} -> 204 (kept in memory only)
 * errors: {"error": "..."} with 400, 403, 404, 409, 500, 503
 * </pre>
 *
 * <p>This is the one place where failures become HTTP statuses: a malformed request or a bad config
 * 400, a blob the registry refuses 403, no such device, blob or endpoint 404, a device in use 409,
 * a failed add or remove 500, a registry that does not answer a blob check 503 (see {@link
 * #statusOf}); anything else is a bug, logged, and 500.
 *
 * <p>Requests run on a small worker pool, never on the event loop: adding a device may take as long
 * as its attach deadline. The creator owns it; {@link #close} stops it and removes the socket.
 */
public final class ControlServer implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(ControlServer.class.getName());
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What the API serves; implemented by the daemon. */
  public interface Backend {
    DeviceInfo add(Path config) throws DeviceException;

    void remove(String key) throws DeviceException;

    DeviceInfo get(String key) throws DeviceException;

    java.util.List<DeviceInfo> list();

    DaemonInfo info();

    /**
     * Checks that blob {@code digest} of {@code size} bytes under {@code repoBlobUrl} can be read
     * with the daemon's credentials, as a read of a device would reach it.
     *
     * @throws IllegalArgumentException when the URL is not a registry's blob URL
     */
    void checkBlob(String repoBlobUrl, String digest, long size) throws DeviceException;

    /**
     * Keeps {@code credential} in memory until it expires, asked before the configured credential
     * sources for the blobs of its repository.
     */
    void putCredentials(RegistryCredential credential);
  }

  private final EventLoopGroup group;
  private final ExecutorService workers;
  private final Channel channel;
  private final Path socket;

  private ControlServer(
      EventLoopGroup group, ExecutorService workers, Channel channel, Path socket) {
    this.group = group;
    this.workers = workers;
    this.channel = channel;
    this.socket = socket;
  }

  public static ControlServer start(Path socket, Backend backend) throws IOException {
    Files.createDirectories(socket.getParent());
    if (Files.exists(socket)) {
      if (BackstoreClient.answers(socket)) {
        throw new IOException(
            "control socket " + socket + " is in use: another obd-backstore runs");
      }
      Files.delete(socket);
    }
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    ExecutorService workers =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "control-api");
              t.setDaemon(true);
              return t;
            });
    try {
      Channel ch =
          new ServerBootstrap()
              .group(group)
              .channel(EpollServerDomainSocketChannel.class)
              .childHandler(
                  new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                      c.pipeline()
                          .addLast(new HttpServerCodec())
                          .addLast(new HttpObjectAggregator(1 << 20))
                          .addLast(new Handler(backend, workers));
                    }
                  })
              .bind(new DomainSocketAddress(socket.toString()))
              .sync()
              .channel();
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
      return new ControlServer(group, workers, ch, socket);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      group.shutdownGracefully();
      throw new IOException("bind control socket " + socket + ": interrupted", e);
    } catch (RuntimeException e) {
      group.shutdownGracefully();
      workers.shutdownNow();
      throw new IOException("bind control socket " + socket + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    channel.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
    workers.shutdownNow();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
    try {
      Files.deleteIfExists(socket);
    } catch (IOException e) {
      LOG.warning("remove control socket " + socket + ": " + e.getMessage());
    }
  }

  /** The HTTP status of a device operation's failure. */
  static HttpResponseStatus statusOf(DeviceException e) {
    if (e instanceof BadDeviceConfigException) {
      return HttpResponseStatus.BAD_REQUEST;
    }
    if (e instanceof NoSuchDeviceException) {
      return HttpResponseStatus.NOT_FOUND;
    }
    if (e instanceof DeviceBusyException) {
      return HttpResponseStatus.CONFLICT;
    }
    if (e instanceof DeviceFailedException) {
      return HttpResponseStatus.INTERNAL_SERVER_ERROR;
    }
    if (e instanceof BlobDeniedException) {
      return HttpResponseStatus.FORBIDDEN;
    }
    if (e instanceof NoSuchBlobException) {
      return HttpResponseStatus.NOT_FOUND;
    }
    if (e instanceof BlobUnreachableException) {
      return HttpResponseStatus.SERVICE_UNAVAILABLE;
    }
    throw new IllegalArgumentException("no status for " + e.getClass().getName());
  }

  private static final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final Backend backend;
    private final ExecutorService workers;

    Handler(Backend backend, ExecutorService workers) {
      this.backend = backend;
      this.workers = workers;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
      HttpMethod method = req.method();
      QueryStringDecoder uri = new QueryStringDecoder(req.uri());
      String body = req.content().toString(StandardCharsets.UTF_8);
      workers.execute(() -> respond(ctx, method, uri, body));
    }

    private void respond(
        ChannelHandlerContext ctx, HttpMethod method, QueryStringDecoder uri, String body) {
      FullHttpResponse resp;
      try {
        resp = route(method, uri, body);
      } catch (DeviceException e) {
        resp = error(statusOf(e), e.getMessage());
      } catch (RuntimeException | IOException e) {
        LOG.log(Level.WARNING, "control API " + method + " " + uri.path() + " failed", e);
        resp =
            json(
                HttpResponseStatus.INTERNAL_SERVER_ERROR,
                Map.of("error", String.valueOf(e.getMessage())));
      }
      ctx.writeAndFlush(resp).addListener(ChannelFutureListener.CLOSE);
    }

    private FullHttpResponse route(HttpMethod method, QueryStringDecoder uri, String body)
        throws IOException {
      String path = uri.path();
      if (path.equals("/v1/info") && method.equals(HttpMethod.GET)) {
        return json(HttpResponseStatus.OK, backend.info());
      }
      if (path.equals("/v1/devices")) {
        if (method.equals(HttpMethod.GET)) {
          if (uri.parameters().containsKey("key")) {
            return json(HttpResponseStatus.OK, backend.get(uri.parameters().get("key").get(0)));
          }
          return json(HttpResponseStatus.OK, backend.list());
        }
        if (method.equals(HttpMethod.POST)) {
          JsonNode n;
          try {
            n = JSON.readTree(body);
          } catch (IOException e) {
            return error(HttpResponseStatus.BAD_REQUEST, "add device: request body is not JSON");
          }
          String config = n == null ? "" : n.path("config").asText("");
          if (config.isEmpty() || !Path.of(config).isAbsolute()) {
            return error(
                HttpResponseStatus.BAD_REQUEST, "add device: \"config\" must be an absolute path");
          }
          return json(HttpResponseStatus.OK, backend.add(Path.of(config)));
        }
        if (method.equals(HttpMethod.DELETE) && uri.parameters().containsKey("key")) {
          backend.remove(uri.parameters().get("key").get(0));
          return new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
        }
      }
      if (path.equals("/v1/blobs/check") && method.equals(HttpMethod.POST)) {
        return checkBlob(body);
      }
      if (path.equals("/v1/credentials") && method.equals(HttpMethod.PUT)) {
        return putCredentials(body);
      }
      if (path.startsWith("/v1/devices/")) {
        String key = QueryStringDecoder.decodeComponent(path.substring("/v1/devices/".length()));
        if (method.equals(HttpMethod.GET)) {
          return json(HttpResponseStatus.OK, backend.get(key));
        }
        if (method.equals(HttpMethod.DELETE)) {
          backend.remove(key);
          return new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
        }
      }
      return error(HttpResponseStatus.NOT_FOUND, "no such endpoint: " + method + " " + path);
    }

    private FullHttpResponse checkBlob(String body) throws DeviceException {
      JsonNode n;
      try {
        n = JSON.readTree(body);
      } catch (IOException e) {
        return error(HttpResponseStatus.BAD_REQUEST, "check blob: request body is not JSON");
      }
      String url = n == null ? "" : n.path("repoBlobUrl").asText("");
      String digest = n == null ? "" : n.path("digest").asText("");
      long size = n == null ? 0 : n.path("size").asLong(0);
      if (url.isEmpty() || !Digest.isValid(digest) || size <= 0) {
        return error(
            HttpResponseStatus.BAD_REQUEST,
            "check blob: \"repoBlobUrl\", a sha256 \"digest\" and a positive \"size\" are"
                + " required");
      }
      try {
        backend.checkBlob(url, digest, size);
      } catch (IllegalArgumentException e) {
        return error(HttpResponseStatus.BAD_REQUEST, "check blob: " + e.getMessage());
      }
      return json(HttpResponseStatus.OK, Map.of("digest", digest, "readable", true));
    }

    /**
     * Never quotes the body nor a parser's message about it: the body holds a secret, and Jackson
     * quotes what it read.
     */
    private FullHttpResponse putCredentials(String body) {
      JsonNode n;
      try {
        n = JSON.readTree(body);
      } catch (IOException e) {
        return error(HttpResponseStatus.BAD_REQUEST, "put credentials: request body is not JSON");
      }
      if (n == null || !n.isObject()) {
        return error(
            HttpResponseStatus.BAD_REQUEST, "put credentials: request body is not a JSON object");
      }
      JsonNode expires = n.path("expiresAt");
      boolean token = n.hasNonNull("identityToken");
      if (!expires.canConvertToLong() || !expires.isIntegralNumber()) {
        return error(
            HttpResponseStatus.BAD_REQUEST,
            "put credentials: \"expiresAt\" (milliseconds since the epoch) is required");
      }
      if (token == (n.hasNonNull("password") || n.hasNonNull("username"))) {
        return error(
            HttpResponseStatus.BAD_REQUEST,
            "put credentials: give either \"username\" and \"password\" or \"identityToken\"");
      }
      RegistryCredential c;
      try {
        c =
            new RegistryCredential(
                text(n, "host"),
                text(n, "repository"),
                token ? "" : text(n, "username"),
                token ? text(n, "identityToken") : text(n, "password"),
                token,
                java.time.Instant.ofEpochMilli(expires.longValue()));
      } catch (IllegalArgumentException e) {
        // RegistryCredential's messages name fields, never the secret
        return error(HttpResponseStatus.BAD_REQUEST, "put credentials: " + e.getMessage());
      }
      backend.putCredentials(c);
      return new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NO_CONTENT);
    }

    private static String text(JsonNode n, String field) {
      JsonNode v = n.get(field);
      if (v == null || !v.isTextual()) {
        throw new IllegalArgumentException("credential: \"" + field + "\" must be a string");
      }
      return v.textValue();
    }

    private static FullHttpResponse error(HttpResponseStatus status, String message) {
      return json(status, Map.of("error", message));
    }

    private static FullHttpResponse json(HttpResponseStatus status, Object value) {
      byte[] bytes;
      try {
        bytes = JSON.writeValueAsBytes(value);
      } catch (IOException e) {
        bytes = "{\"error\":\"cannot encode response\"}".getBytes(StandardCharsets.UTF_8);
        status = HttpResponseStatus.INTERNAL_SERVER_ERROR;
      }
      FullHttpResponse r =
          new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(bytes));
      r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
      r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
      return r;
    }
  }
}
