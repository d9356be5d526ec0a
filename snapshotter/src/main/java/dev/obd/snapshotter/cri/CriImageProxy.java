package dev.obd.snapshotter.cri;

import dev.obd.snapshotter.device.CredentialPush;
import io.grpc.HandlerRegistry;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * kubelet's image endpoint in front of containerd's CRI: the handlers to serve on the proxy's
 * socket ({@link #handlers}), the channel to containerd's socket and the credential relay. Owns the
 * channel, its event loop and the relay; {@link #close} releases them (after the server that serves
 * the handlers stopped).
 */
public final class CriImageProxy implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(CriImageProxy.class.getName());

  /**
   * The largest message relayed, either way: kubelet's CRI client and containerd's server both
   * allow 16 MiB (a ListImages answer on a node with many images exceeds gRPC's default 4 MiB).
   */
  public static final int MAX_MESSAGE_BYTES = 16 << 20;

  /** How often the relay asks whether the data plane restarted (see {@link CredentialRelay}). */
  static final Duration RESYNC_INTERVAL = Duration.ofSeconds(2);

  private final EventLoopGroup group;
  private final ManagedChannel containerd;
  private final CredentialRelay relay;
  private final ImageServiceProxy handlers;

  private CriImageProxy(EventLoopGroup group, ManagedChannel containerd, CredentialRelay relay) {
    this.group = group;
    this.containerd = containerd;
    this.relay = relay;
    this.handlers = new ImageServiceProxy(containerd, relay::beforePull);
  }

  /**
   * Connects (lazily, at the first call) to containerd's socket {@code containerdAddress}.
   *
   * @param push where pull credentials go; empty when the attacher's data plane cannot take them
   *     (tcmu): calls are still forwarded, and nothing is kept
   * @param credentialTtl how long pull credentials are kept after the pull that sent them
   * @param maxCredentials how many repositories' credentials are kept at most
   */
  public static CriImageProxy open(
      Path containerdAddress,
      Optional<CredentialPush> push,
      Duration credentialTtl,
      int maxCredentials) {
    return open(containerdAddress, push, credentialTtl, maxCredentials, RESYNC_INTERVAL);
  }

  static CriImageProxy open(
      Path containerdAddress,
      Optional<CredentialPush> push,
      Duration credentialTtl,
      int maxCredentials,
      Duration resyncInterval) {
    boolean epoll = Epoll.isAvailable();
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(
            1, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    NettyChannelBuilder b =
        epoll
            ? NettyChannelBuilder.forAddress(new DomainSocketAddress(containerdAddress.toString()))
                .channelType(EpollDomainSocketChannel.class)
            : NettyChannelBuilder.forAddress(UnixDomainSocketAddress.of(containerdAddress))
                .channelType(NioDomainSocketChannel.class);
    ManagedChannel channel =
        b.eventLoopGroup(group)
            // AF_UNIX has no keepalive; without this netty warns on every connection.
            .withOption(ChannelOption.SO_KEEPALIVE, null)
            .overrideAuthority("localhost")
            .maxInboundMessageSize(MAX_MESSAGE_BYTES)
            .maxInboundMetadataSize(1 << 20)
            .usePlaintext()
            .build();
    if (push.isEmpty()) {
      LOG.info(
          "CRI image proxy: the attacher's data plane (overlaybd-tcmu) reads blobs with its own"
              + " credential files; pull credentials are not kept");
    }
    CredentialRelay relay =
        new CredentialRelay(push, credentialTtl, maxCredentials, resyncInterval, Clock.systemUTC());
    return new CriImageProxy(group, channel, relay);
  }

  /** What the proxy's gRPC server serves, as its fallback registry. */
  public HandlerRegistry handlers() {
    return handlers;
  }

  CredentialRelay relay() {
    return relay;
  }

  @Override
  public void close() {
    relay.close();
    containerd.shutdownNow();
    try {
      containerd.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
