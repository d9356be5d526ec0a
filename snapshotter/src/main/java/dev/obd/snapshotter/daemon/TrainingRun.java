package dev.obd.snapshotter.daemon;

import dev.obd.proto.containerd.snapshots.v1.CleanupRequest;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
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
 * The launcher's class-data-sharing training start: after the daemon serves, every RPC is called
 * once over the real socket (including a failing one), so that the archive made at exit holds the
 * classes of the request path too and the first calls after a real start are fast.
 */
final class TrainingRun {
  private TrainingRun() {}

  static void exercise(Path socket) {
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    ManagedChannel ch =
        NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
            .eventLoopGroup(group)
            .channelType(EpollDomainSocketChannel.class)
            .withOption(ChannelOption.SO_KEEPALIVE, null)
            .usePlaintext()
            .build();
    try {
      var s = SnapshotsGrpc.newBlockingStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS);
      s.prepare(PrepareSnapshotRequest.newBuilder().setKey("a").putLabels("k", "v").build());
      s.commit(CommitSnapshotRequest.newBuilder().setName("c").setKey("a").build());
      s.prepare(PrepareSnapshotRequest.newBuilder().setKey("b").setParent("c").build());
      s.view(ViewSnapshotRequest.newBuilder().setKey("v").setParent("c").build());
      s.mounts(MountsRequest.newBuilder().setKey("b").build());
      Info c = s.stat(StatSnapshotRequest.newBuilder().setKey("c").build()).getInfo();
      s.update(
          UpdateSnapshotRequest.newBuilder().setInfo(c.toBuilder().putLabels("x", "y")).build());
      s.list(ListSnapshotsRequest.newBuilder().addFilters("labels.x==y,kind==committed").build())
          .forEachRemaining(r -> {});
      s.usage(UsageRequest.newBuilder().setKey("b").build());
      try {
        s.stat(StatSnapshotRequest.newBuilder().setKey("missing").build());
      } catch (StatusRuntimeException expected) {
        // the error path is part of the training too
      }
      for (String key : new String[] {"v", "b", "c"}) {
        s.remove(RemoveSnapshotRequest.newBuilder().setKey(key).build());
      }
      s.cleanup(CleanupRequest.getDefaultInstance());
    } finally {
      ch.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
  }
}
