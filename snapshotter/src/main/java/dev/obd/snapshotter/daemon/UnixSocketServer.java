package dev.obd.snapshotter.daemon;

import dev.obd.snapshotter.errdefs.UnavailableException;
import io.grpc.HandlerRegistry;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Logger;

/**
 * A gRPC server on a unix socket: created like upstream's (parent directory 0700 if missing, a
 * stale socket file removed, the socket itself 0660), served by netty's native epoll transport, or
 * by NIO when the native library cannot be loaded (for example with a noexec /tmp).
 *
 * <p>The server is bound under a temporary name next to its address and serves there first (see
 * {@link #bind}); only {@link #publish} renames the socket into place. The daemon uses the time
 * between the two to warm itself up over real connections, so that containerd's first connection
 * finds a server that answers at full speed. Every call runs on the request executor, never on a
 * netty I/O thread: containerd keeps one connection per proxy plugin, and a call that waits (for a
 * device to attach, for the metadata writer) on an I/O thread would stall every other call of every
 * connection on that event loop.
 *
 * <p>Owns its event loops and its request executor; {@link #shutdown} releases them.
 */
public final class UnixSocketServer {
  private static final Logger LOG = Logger.getLogger(UnixSocketServer.class.getName());

  /** {@code sun_path} holds 108 bytes including the terminating NUL. */
  private static final int MAX_SOCKET_PATH_BYTES = 107;

  private final Path address;
  private final Path bindPath;
  private final Server server;
  private final EventLoopGroup group;
  private final ExecutorService executor;
  private volatile boolean published;

  private UnixSocketServer(
      Path address, Path bindPath, Server server, EventLoopGroup group, ExecutorService executor) {
    this.address = address;
    this.bindPath = bindPath;
    this.server = server;
    this.group = group;
    this.executor = executor;
  }

  /** Binds and publishes at once: {@link #bind}, then {@link #publish}. */
  public static UnixSocketServer start(Path address, List<ServerServiceDefinition> services)
      throws IOException {
    return start(address, services, null, 0);
  }

  /** As {@link #bind(Path, List, HandlerRegistry, int)}, then {@link #publish}. */
  static UnixSocketServer start(
      Path address,
      List<ServerServiceDefinition> services,
      HandlerRegistry fallback,
      int maxMessageBytes)
      throws IOException {
    UnixSocketServer s = bind(address, services, fallback, maxMessageBytes);
    try {
      s.publish();
    } catch (IOException | RuntimeException e) {
      s.shutdownNow();
      throw e;
    }
    return s;
  }

  /**
   * Starts serving {@code services} on a socket of mode 0660 bound under a temporary name in the
   * directory of {@code address} ({@link #boundAt}); nothing is at {@code address} yet.
   *
   * @throws UnavailableException if another process serves {@code address}
   */
  public static UnixSocketServer bind(Path address, List<ServerServiceDefinition> services)
      throws IOException {
    return bind(address, services, null, 0);
  }

  /**
   * As {@link #bind(Path, List)}; also serves what {@code fallback} finds for methods none of
   * {@code services} has (when not null), and accepts messages of up to {@code maxMessageBytes} (0:
   * gRPC's default, 4 MiB).
   */
  static UnixSocketServer bind(
      Path address,
      List<ServerServiceDefinition> services,
      HandlerRegistry fallback,
      int maxMessageBytes)
      throws IOException {
    prepareSocketPath(address);
    Path bindPath = temporaryName(address);
    Files.deleteIfExists(bindPath);
    boolean epoll = Epoll.isAvailable();
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(
            2,
            daemonThreads("grpc-io"),
            epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    ExecutorService executor = Executors.newCachedThreadPool(daemonThreads("rpc"));
    SocketAddress bind;
    Class<? extends ServerChannel> channel;
    if (epoll) {
      bind = new DomainSocketAddress(bindPath.toString());
      channel = EpollServerDomainSocketChannel.class;
    } else {
      LOG.warning(
          "native epoll unavailable (" + Epoll.unavailabilityCause() + "); serving with NIO");
      bind = UnixDomainSocketAddress.of(bindPath);
      channel = NioServerDomainSocketChannel.class;
    }
    NettyServerBuilder b =
        NettyServerBuilder.forAddress(bind)
            .channelType(channel)
            .bossEventLoopGroup(group)
            .workerEventLoopGroup(group)
            .executor(executor)
            // AF_UNIX has no keepalive; without this netty warns on every connection.
            .withChildOption(ChannelOption.SO_KEEPALIVE, null);
    services.forEach(b::addService);
    if (fallback != null) {
      b.fallbackHandlerRegistry(fallback);
    }
    if (maxMessageBytes > 0) {
      b.maxInboundMessageSize(maxMessageBytes);
    }
    Server server = b.build();
    try {
      server.start();
      Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-rw----"));
    } catch (IOException | RuntimeException e) {
      server.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      executor.shutdownNow();
      Files.deleteIfExists(bindPath);
      throw e;
    }
    return new UnixSocketServer(address, bindPath, server, group, executor);
  }

  /**
   * Renames the socket from its temporary name to its address, where clients find it. The rename is
   * atomic, so a client finds either nothing or a server with the right permissions.
   *
   * @throws UnavailableException if another process started serving the address meanwhile
   */
  public void publish() throws IOException {
    if (Files.exists(address, LinkOption.NOFOLLOW_LINKS) && isListening(address)) {
      throw new UnavailableException(
          "socket " + address + " is in use: another snapshotter started serving it");
    }
    Files.move(bindPath, address, StandardCopyOption.ATOMIC_MOVE);
    published = true;
  }

  /** Where clients find the server once published. */
  public Path address() {
    return address;
  }

  /** Where the server listens before {@link #publish}. */
  Path boundAt() {
    return bindPath;
  }

  /**
   * Stops accepting calls, lets calls in flight finish for up to {@code graceMillis}, then cancels
   * the rest and releases the threads.
   */
  public void shutdown(long graceMillis) throws InterruptedException {
    server.shutdown();
    if (!server.awaitTermination(graceMillis, TimeUnit.MILLISECONDS)) {
      LOG.warning("calls still running after " + graceMillis + " ms; cancelling them");
      server.shutdownNow();
      server.awaitTermination(1, TimeUnit.SECONDS);
    }
    releaseThreadsAndSocket();
  }

  /** Stops at once, cancelling calls in flight (for a start that fails half-way). */
  void shutdownNow() {
    server.shutdownNow();
    try {
      server.awaitTermination(1, TimeUnit.SECONDS);
      releaseThreadsAndSocket();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void releaseThreadsAndSocket() throws InterruptedException {
    executor.shutdown();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(2, TimeUnit.SECONDS);
    try {
      if (published) {
        // unless another server answers there by now
        if (!isListening(address)) {
          Files.deleteIfExists(address);
        }
      } else {
        Files.deleteIfExists(bindPath);
      }
    } catch (IOException e) {
      LOG.warning("could not remove socket " + (published ? address : bindPath) + ": " + e);
    }
  }

  /**
   * A temporary name for the socket in the directory of {@code address}, with this process's pid in
   * it, short enough for {@code sun_path}.
   */
  private static Path temporaryName(Path address) {
    long pid = ProcessHandle.current().pid();
    for (String name :
        new String[] {"." + pid + ".sock", "." + pid, "." + Long.toString(pid, 36)}) {
      Path p = address.resolveSibling(name);
      if (p.toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH_BYTES) {
        return p;
      }
    }
    throw new UnavailableException(
        "socket path "
            + address
            + " leaves no room for a temporary name next to it in the "
            + MAX_SOCKET_PATH_BYTES
            + " bytes a unix socket path may have: choose a shorter address");
  }

  private static void prepareSocketPath(Path address) throws IOException {
    Path dir = address.getParent();
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir);
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    }
    if (!Files.exists(address, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (Files.isDirectory(address, LinkOption.NOFOLLOW_LINKS)) {
      throw new UnavailableException("socket path " + address + " is a directory");
    }
    if (isListening(address)) {
      throw new UnavailableException(
          "socket " + address + " is in use: another snapshotter is serving it");
    }
    Files.delete(address);
  }

  private static boolean isListening(Path address) {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(address));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
