package dev.obd.snapshotter.api;

import com.google.protobuf.Empty;
import dev.obd.proto.containerd.snapshots.v1.CleanupRequest;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageResponse;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotResponse;
import dev.obd.snapshotter.snapshots.Snapshotter;
import dev.obd.snapshotter.snapshots.Usage;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Iterator;
import java.util.List;
import java.util.function.Supplier;

/**
 * containerd's Snapshots gRPC service over a {@link Snapshotter}: a thin translator. Requests
 * become snapshotter calls, results become responses, failures leave through {@link ErrorMapping}.
 * The {@code snapshotter} field of requests is ignored, as a proxy snapshotter serves exactly one
 * snapshotter.
 */
public final class SnapshotsService extends SnapshotsGrpc.SnapshotsImplBase {
  /** containerd sends List results in messages of this many infos. */
  static final int LIST_BATCH = 100;

  /**
   * ...and we in messages of at most about this many bytes, far below what gRPC clients accept by
   * default (4 MiB in grpc-go and grpc-java): 100 snapshots with labels as large as containerd
   * allows would make a message of 6 MB.
   */
  static final int LIST_BATCH_BYTES = 1 << 20;

  private final Snapshotter snapshotter;

  public SnapshotsService(Snapshotter snapshotter) {
    this.snapshotter = snapshotter;
  }

  @Override
  public void prepare(PrepareSnapshotRequest r, StreamObserver<PrepareSnapshotResponse> out) {
    answer(
        out,
        () ->
            PrepareSnapshotResponse.newBuilder()
                .addAllMounts(
                    ProtoConverter.mounts(
                        snapshotter.prepare(r.getKey(), r.getParent(), r.getLabelsMap())))
                .build());
  }

  @Override
  public void view(ViewSnapshotRequest r, StreamObserver<ViewSnapshotResponse> out) {
    answer(
        out,
        () ->
            ViewSnapshotResponse.newBuilder()
                .addAllMounts(
                    ProtoConverter.mounts(
                        snapshotter.view(r.getKey(), r.getParent(), r.getLabelsMap())))
                .build());
  }

  @Override
  public void mounts(MountsRequest r, StreamObserver<MountsResponse> out) {
    answer(
        out,
        () ->
            MountsResponse.newBuilder()
                .addAllMounts(ProtoConverter.mounts(snapshotter.mounts(r.getKey())))
                .build());
  }

  @Override
  public void commit(CommitSnapshotRequest r, StreamObserver<Empty> out) {
    answer(
        out,
        () -> {
          snapshotter.commit(r.getName(), r.getKey(), r.getLabelsMap(), r.getParent());
          return Empty.getDefaultInstance();
        });
  }

  @Override
  public void remove(RemoveSnapshotRequest r, StreamObserver<Empty> out) {
    answer(
        out,
        () -> {
          snapshotter.remove(r.getKey());
          return Empty.getDefaultInstance();
        });
  }

  @Override
  public void stat(StatSnapshotRequest r, StreamObserver<StatSnapshotResponse> out) {
    answer(
        out,
        () ->
            StatSnapshotResponse.newBuilder()
                .setInfo(ProtoConverter.info(snapshotter.stat(r.getKey())))
                .build());
  }

  @Override
  public void update(UpdateSnapshotRequest r, StreamObserver<UpdateSnapshotResponse> out) {
    answer(
        out,
        () ->
            UpdateSnapshotResponse.newBuilder()
                .setInfo(
                    ProtoConverter.info(
                        snapshotter.update(
                            ProtoConverter.updateInfo(r.getInfo()),
                            r.getUpdateMask().getPathsList())))
                .build());
  }

  @Override
  public void list(ListSnapshotsRequest r, StreamObserver<ListSnapshotsResponse> out) {
    ServerCallStreamObserver<ListSnapshotsResponse> call =
        (ServerCallStreamObserver<ListSnapshotsResponse>) out;
    Iterator<List<dev.obd.snapshotter.snapshots.Info>> walk;
    try {
      walk = snapshotter.walk(r.getFiltersList());
    } catch (RuntimeException | Error e) {
      call.onError(ErrorMapping.toStatus(e));
      return;
    }
    // gRPC runs it once now (the call is ready) and again whenever the client can take more
    call.setOnReadyHandler(new ListStreamer(call, walk));
  }

  @Override
  public void usage(UsageRequest r, StreamObserver<UsageResponse> out) {
    answer(
        out,
        () -> {
          Usage u = snapshotter.usage(r.getKey());
          return UsageResponse.newBuilder().setSize(u.size()).setInodes(u.inodes()).build();
        });
  }

  @Override
  public void cleanup(CleanupRequest r, StreamObserver<Empty> out) {
    answer(
        out,
        () -> {
          snapshotter.cleanup();
          return Empty.getDefaultInstance();
        });
  }

  private static <T> void answer(StreamObserver<T> out, Supplier<T> call) {
    T response;
    try {
      response = call.get();
    } catch (RuntimeException | Error e) {
      out.onError(ErrorMapping.toStatus(e));
      return;
    }
    out.onNext(response);
    out.onCompleted();
  }
}
