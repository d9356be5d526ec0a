package dev.obd.backstore.nbd;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Serves one {@link Export}: on a unix socket with the full newstyle negotiation (for nbdfuse,
 * nbdinfo, qemu), and on already-negotiated sockets handed over by the kernel attach (the kernel
 * speaks only the transmission phase). Thread-safe; {@link #close} stops listening, closes every
 * connection and removes the socket file. The disk stays open: its owner closes it.
 */
public final class NbdServer implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(NbdServer.class.getName());

  private final Export export;
  private final NbdTransport transport;
  private final RequestDispatcher dispatcher;
  private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final IoStats stats;
  private Path socket;

  private NbdServer(Export export, NbdTransport transport, IoStats stats) {
    this.export = export;
    this.transport = transport;
    this.stats = stats;
    this.dispatcher = new RequestDispatcher(transport.ioExecutor, stats);
  }

  /** A server with no listening socket yet; see {@link #listen} and {@link #serveConnected}. */
  public static NbdServer create(Export export, NbdTransport transport) {
    return new NbdServer(export, transport, new IoStats());
  }

  /**
   * Listens on the unix socket {@code path} (a stale file there is replaced).
   *
   * @throws IOException naming the socket when binding fails
   */
  public synchronized NbdServer listen(Path path, Duration deadline) throws IOException {
    if (path.toString().length() > 107) {
      throw new IOException("unix socket path longer than 107 bytes: " + path);
    }
    Files.createDirectories(path.getParent());
    Files.deleteIfExists(path);
    ServerBootstrap b =
        new ServerBootstrap()
            .group(transport.group)
            .channel(EpollServerDomainSocketChannel.class)
            .childHandler(
                new ChannelInitializer<Channel>() {
                  @Override
                  protected void initChannel(Channel ch) {
                    channels.add(ch);
                    ch.pipeline()
                        .addLast("nbd-handshake", new HandshakeHandler(export, dispatcher));
                  }
                });
    Channel server;
    try {
      var future = b.bind(new DomainSocketAddress(path.toString()));
      if (!future.await(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IOException("listen on " + path + ": no bind within " + deadline);
      }
      if (!future.isSuccess()) {
        throw new IOException(
            "listen on " + path + ": " + future.cause().getMessage(), future.cause());
      }
      server = future.channel();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("listen on " + path + ": interrupted", e);
    }
    channels.add(server);
    socket = path;
    LOG.fine("NBD export " + export.name() + " listening on " + path);
    return this;
  }

  /**
   * Serves the transmission phase on a connected unix socket whose negotiation already happened
   * elsewhere (the kernel's nbd driver after a netlink CONNECT). Takes ownership of {@code fd}.
   */
  public void serveConnected(int fd) throws IOException {
    EpollDomainSocketChannel ch = new EpollDomainSocketChannel(fd);
    TransmissionPipeline.install(ch.pipeline(), export, dispatcher, false);
    try {
      transport.group.register(ch).sync();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      ch.close();
      throw new IOException("serve kernel socket of export " + export.name() + ": interrupted", e);
    }
    channels.add(ch);
  }

  public Export export() {
    return export;
  }

  public IoStats stats() {
    return stats;
  }

  /** The unix socket path, or null if not listening. */
  public synchronized Path socket() {
    return socket;
  }

  @Override
  public synchronized void close() {
    channels.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    if (socket != null) {
      try {
        Files.deleteIfExists(socket);
      } catch (IOException e) {
        LOG.warning("remove NBD socket " + socket + ": " + e.getMessage());
      }
    }
  }
}
