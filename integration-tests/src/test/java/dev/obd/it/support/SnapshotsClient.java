package dev.obd.it.support;

import com.google.protobuf.FieldMask;
import dev.obd.proto.containerd.snapshots.v1.CleanupRequest;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageResponse;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import io.grpc.ManagedChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A gRPC client of the Snapshots service on a unix socket, the way containerd's proxy plugin
 * connects. Every call has a deadline. Thread-safe.
 */
public final class SnapshotsClient implements AutoCloseable {
  private static final long DEADLINE_SECONDS = 60;

  private final UnixSocketChannel channel;
  private final SnapshotsGrpc.SnapshotsBlockingStub stub;

  private SnapshotsClient(UnixSocketChannel channel) {
    this.channel = channel;
    this.stub = SnapshotsGrpc.newBlockingStub(channel.channel());
  }

  public static SnapshotsClient connect(Path socket) {
    return new SnapshotsClient(UnixSocketChannel.open(socket, 1));
  }

  public ManagedChannel channel() {
    return channel.channel();
  }

  public SnapshotsGrpc.SnapshotsBlockingStub stub() {
    return stub.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS);
  }

  public List<Mount> prepare(String key, String parent) {
    return prepare(key, parent, Map.of());
  }

  public List<Mount> prepare(String key, String parent, Map<String, String> labels) {
    return stub()
        .prepare(
            PrepareSnapshotRequest.newBuilder()
                .setKey(key)
                .setParent(parent)
                .putAllLabels(labels)
                .build())
        .getMountsList();
  }

  public List<Mount> view(String key, String parent) {
    return view(key, parent, Map.of());
  }

  public List<Mount> view(String key, String parent, Map<String, String> labels) {
    return stub()
        .view(
            ViewSnapshotRequest.newBuilder()
                .setKey(key)
                .setParent(parent)
                .putAllLabels(labels)
                .build())
        .getMountsList();
  }

  public List<Mount> mounts(String key) {
    return stub().mounts(MountsRequest.newBuilder().setKey(key).build()).getMountsList();
  }

  public void commit(String name, String key) {
    commit(name, key, Map.of());
  }

  public void commit(String name, String key, Map<String, String> labels) {
    stub()
        .commit(
            CommitSnapshotRequest.newBuilder()
                .setName(name)
                .setKey(key)
                .putAllLabels(labels)
                .build());
  }

  public void commitWithParent(String name, String key, String parent) {
    stub()
        .commit(
            CommitSnapshotRequest.newBuilder().setName(name).setKey(key).setParent(parent).build());
  }

  public void remove(String key) {
    stub().remove(RemoveSnapshotRequest.newBuilder().setKey(key).build());
  }

  public Info stat(String key) {
    return stub().stat(StatSnapshotRequest.newBuilder().setKey(key).build()).getInfo();
  }

  public Info update(Info info, String... paths) {
    UpdateSnapshotRequest.Builder b = UpdateSnapshotRequest.newBuilder().setInfo(info);
    if (paths.length > 0) {
      b.setUpdateMask(FieldMask.newBuilder().addAllPaths(List.of(paths)));
    }
    return stub().update(b.build()).getInfo();
  }

  public List<Info> list(String... filters) {
    return listBatches(filters).stream().flatMap(r -> r.getInfoList().stream()).toList();
  }

  /** The raw stream of List responses, to observe batching. */
  public List<ListSnapshotsResponse> listBatches(String... filters) {
    Iterator<ListSnapshotsResponse> it =
        stub().list(ListSnapshotsRequest.newBuilder().addAllFilters(List.of(filters)).build());
    List<ListSnapshotsResponse> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  public UsageResponse usage(String key) {
    return stub().usage(UsageRequest.newBuilder().setKey(key).build());
  }

  public void cleanup() {
    stub().cleanup(CleanupRequest.getDefaultInstance());
  }

  @Override
  public void close() {
    channel.close();
  }
}
