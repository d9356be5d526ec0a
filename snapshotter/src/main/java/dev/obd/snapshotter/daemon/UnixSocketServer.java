package dev.obd.snapshotter.daemon;

import dev.obd.snapshotter.errdefs.UnavailableException;
import io.grpc.BindableService;
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
 * <p>Owns its event loops and its request executor; {@link #shutdown} releases them.
 */
public final class UnixSocketServer {
  private static final Logger LOG = Logger.getLogger(UnixSocketServer.class.getName());

  private final Path address;
  private final Server server;
  private final EventLoopGroup group;
  private final ExecutorService executor;

  private UnixSocketServer(
      Path address, Server server, EventLoopGroup group, ExecutorService executor) {
    this.address = address;
    this.server = server;
    this.group = group;
    this.executor = executor;
  }

  /**
   * Binds {@code address} and starts serving {@code services}. The socket is bound under a
   * temporary name, given mode 0660, then renamed into place, so that no client ever finds it with
   * other permissions.
   */
  public static UnixSocketServer start(Path address, List<ServerServiceDefinition> services)
      throws IOException {
    prepareSocketPath(address);
    Path bindPath = address.resolveSibling("." + ProcessHandle.current().pid() + ".sock");
    if (bindPath.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
      bindPath = address;
    }
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
            .callExecutor(UnixSocketServer::inlineReads)
            // AF_UNIX has no keepalive; without this netty warns on every connection.
            .withChildOption(ChannelOption.SO_KEEPALIVE, null);
    services.forEach(b::addService);
    Server server = b.build();
    try {
      server.start();
      Files.setPosixFilePermissions(bindPath, PosixFilePermissions.fromString("rw-rw----"));
      if (!bindPath.equals(address)) {
        Files.move(bindPath, address, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException | RuntimeException e) {
      server.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      executor.shutdownNow();
      Files.deleteIfExists(bindPath);
      throw e;
    }
    return new UnixSocketServer(address, server, group, executor);
  }

  /** Convenience for tests: one service without interceptors. */
  public static UnixSocketServer start(Path address, BindableService service) throws IOException {
    return start(address, List.of(service.bindService()));
  }

  public Path address() {
    return address;
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
    executor.shutdown();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(2, TimeUnit.SECONDS);
    try {
      Files.deleteIfExists(address);
    } catch (IOException e) {
      LOG.warning("could not remove socket " + address + ": " + e);
    }
  }

  /**
   * Calls that only read memory and never block: run on the I/O thread, saving a handoff. (List
   * waits for a slow client, which needs the I/O thread free.)
   */
  private static final java.util.Set<String> INLINE = java.util.Set.of("Stat", "Mounts");

  private static java.util.concurrent.Executor inlineReads(
      io.grpc.ServerCall<?, ?> call, io.grpc.Metadata headers) {
    return INLINE.contains(call.getMethodDescriptor().getBareMethodName())
        ? com.google.common.util.concurrent.MoreExecutors.directExecutor()
        : null;
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
