package dev.obd.snapshotter.daemon;

import com.google.protobuf.FieldMask;
import dev.obd.proto.containerd.snapshots.v1.CleanupRequest;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The client side of the warm-up: real connections to the server's socket and every RPC of the
 * Snapshots service, in rounds, so that what containerd's first connection and first calls run has
 * been loaded, linked, initialized and, for the hot parts, compiled. Each round opens one raw
 * connection that completes the HTTP/2 connection preface (the exchange grpc-go gives about a
 * second), and calls, on a gRPC channel that is replaced every few rounds, each RPC once with
 * success, plus NOT_FOUND and ALREADY_EXISTS. Two threads call at once, so that the request
 * executor has its threads and the metadata writer has seen contention.
 *
 * <p>Meant for a scratch snapshotter: the calls create and remove snapshots of their own and leave
 * none behind.
 */
final class WarmUpCalls {
  /** The HTTP/2 client connection preface (RFC 9113, section 3.4), then an empty SETTINGS frame. */
  private static final byte[] CLIENT_PREFACE = clientPreface();

  private static final int THREADS = 2;
  private static final int ROUNDS_PER_CHANNEL = 10;
  private static final long CALL_DEADLINE_SECONDS = 30;

  private final Path socket;
  private final boolean epoll;

  /**
   * @param epoll whether the server uses netty's native transport; the client uses the same one
   */
  WarmUpCalls(Path socket, boolean epoll) {
    this.socket = socket;
    this.epoll = epoll;
  }

  /**
   * Runs {@code rounds} rounds on each of two threads, then one Cleanup.
   *
   * @throws IllegalStateException if a call fails otherwise than the warm-up expects
   */
  void run(int rounds) throws InterruptedException {
    EventLoopGroup group =
        new MultiThreadIoEventLoopGroup(
            1, epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    ExecutorService callers = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<?>> threads = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        String prefix = "warm-up-" + t + "-";
        threads.add(callers.submit(() -> callRounds(group, prefix, rounds)));
      }
      for (Future<?> f : threads) {
        f.get();
      }
      ManagedChannel ch = channel(group);
      try {
        stub(ch).cleanup(CleanupRequest.getDefaultInstance());
      } finally {
        ch.shutdownNow();
      }
    } catch (ExecutionException e) {
      throw new IllegalStateException("warm-up call failed: " + e.getCause(), e.getCause());
    } finally {
      callers.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(2, TimeUnit.SECONDS);
    }
  }

  private Void callRounds(EventLoopGroup group, String prefix, int rounds) throws IOException {
    ManagedChannel ch = null;
    try {
      for (int r = 0; r < rounds; r++) {
        if (r % ROUNDS_PER_CHANNEL == 0) {
          if (ch != null) {
            ch.shutdownNow();
          }
          ch = channel(group);
        }
        long t0 = System.nanoTime();
        exchangePreface();
        long t1 = System.nanoTime();
        callEveryRpc(stub(ch), prefix + r + "-");
        if (Boolean.getBoolean("obd.warmUpTrace")) {
          System.err.printf(
              "TRACE %s round %d preface %.1f ms rpcs %.1f ms%n",
              prefix, r, (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6);
        }
      }
    } finally {
      if (ch != null) {
        ch.shutdownNow();
      }
    }
    return null;
  }

  /** One round: each RPC, leaving no snapshot behind. */
  private static void callEveryRpc(SnapshotsBlockingStub s, String p) {
    String active = p + "a";
    String committed = p + "c";
    String child = p + "b";
    String view = p + "v";
    s.prepare(
        PrepareSnapshotRequest.newBuilder()
            .setKey(active)
            .putLabels("containerd.io/snapshot.ref", committed)
            .build());
    s.commit(
        CommitSnapshotRequest.newBuilder()
            .setName(committed)
            .setKey(active)
            .putLabels("containerd.io/gc.root", "warm-up")
            .build());
    s.prepare(PrepareSnapshotRequest.newBuilder().setKey(child).setParent(committed).build());
    s.view(ViewSnapshotRequest.newBuilder().setKey(view).setParent(committed).build());
    s.mounts(MountsRequest.newBuilder().setKey(child).build());
    s.mounts(MountsRequest.newBuilder().setKey(view).build());
    Info info = s.stat(StatSnapshotRequest.newBuilder().setKey(committed).build()).getInfo();
    s.update(
        UpdateSnapshotRequest.newBuilder()
            .setInfo(info.toBuilder().putLabels("warm-up", p))
            .setUpdateMask(FieldMask.newBuilder().addPaths("labels.warm-up"))
            .build());
    s.list(
            ListSnapshotsRequest.newBuilder()
                .addFilters("labels.\"warm-up\"==\"" + p + "\",kind==committed")
                .build())
        .forEachRemaining(r -> {});
    s.list(ListSnapshotsRequest.newBuilder().addFilters("parent==\"" + committed + "\"").build())
        .forEachRemaining(r -> {});
    s.usage(UsageRequest.newBuilder().setKey(child).build());
    expect(
        Status.Code.NOT_FOUND,
        () -> s.stat(StatSnapshotRequest.newBuilder().setKey(p + "missing").build()));
    expect(
        Status.Code.ALREADY_EXISTS,
        () -> s.prepare(PrepareSnapshotRequest.newBuilder().setKey(child).build()));
    expect(
        Status.Code.FAILED_PRECONDITION,
        () -> s.remove(RemoveSnapshotRequest.newBuilder().setKey(committed).build()));
    for (String key : new String[] {view, child, committed}) {
      s.remove(RemoveSnapshotRequest.newBuilder().setKey(key).build());
    }
  }

  private static void expect(Status.Code code, Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() == code) {
        return;
      }
      throw e;
    }
    throw new IllegalStateException("expected " + code + ", the call succeeded");
  }

  /**
   * Connects without gRPC, sends the client preface and waits for the server's first frame, its
   * SETTINGS: the part of a connection that grpc-go gives a deadline of about a second.
   */
  private void exchangePreface() throws IOException {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ch.write(ByteBuffer.wrap(CLIENT_PREFACE));
      ByteBuffer header = ByteBuffer.allocate(9);
      while (header.hasRemaining()) {
        if (ch.read(header) < 0) {
          throw new IOException("the server closed the connection before its preface");
        }
      }
      if (header.get(3) != 4) {
        throw new IOException("the server's first frame is of type " + header.get(3));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("HTTP/2 preface with " + socket, e);
    }
  }

  private ManagedChannel channel(EventLoopGroup group) {
    NettyChannelBuilder b =
        epoll
            ? NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class)
            : NettyChannelBuilder.forAddress(UnixDomainSocketAddress.of(socket))
                .channelType(NioDomainSocketChannel.class);
    return b.eventLoopGroup(group)
        // AF_UNIX has no keepalive; without this netty warns on every connection.
        .withOption(ChannelOption.SO_KEEPALIVE, null)
        .usePlaintext()
        .build();
  }

  private static SnapshotsBlockingStub stub(ManagedChannel ch) {
    return SnapshotsGrpc.newBlockingStub(ch)
        .withDeadlineAfter(CALL_DEADLINE_SECONDS, TimeUnit.SECONDS);
  }

  private static byte[] clientPreface() {
    byte[] magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    byte[] settings = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    ByteBuffer b = ByteBuffer.allocate(magic.length + settings.length);
    return b.put(magic).put(settings).array();
  }
}
