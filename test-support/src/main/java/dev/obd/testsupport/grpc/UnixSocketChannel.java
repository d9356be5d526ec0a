package dev.obd.testsupport.grpc;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A plaintext gRPC channel to a unix socket over netty epoll, the way containerd's clients and
 * proxy plugins connect, with the event loops it owns; {@link #close} releases both.
 */
public final class UnixSocketChannel implements AutoCloseable {
  private final EventLoopGroup group;
  private final ManagedChannel channel;

  private UnixSocketChannel(EventLoopGroup group, ManagedChannel channel) {
    this.group = group;
    this.channel = channel;
  }

  /** Connects (lazily, at the first call) to {@code socket} with {@code ioThreads} event loops. */
  public static UnixSocketChannel open(Path socket, int ioThreads) {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(ioThreads, EpollIoHandler.newFactory());
    ManagedChannel channel =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
            .eventLoopGroup(group)
            .channelType(EpollDomainSocketChannel.class)
            // AF_UNIX has no keepalive; without this netty warns on every connection.
            .withOption(ChannelOption.SO_KEEPALIVE, null)
            .usePlaintext()
            .build();
    return new UnixSocketChannel(group, channel);
  }

  public ManagedChannel channel() {
    return channel;
  }

  /** Cancels calls in flight, waits up to 10 s for the channel to end, then stops the loops. */
  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
