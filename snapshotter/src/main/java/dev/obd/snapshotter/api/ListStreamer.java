package dev.obd.snapshotter.api;

import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;

/**
 * Streams a List answer as fast as the client takes it and no faster: it runs each time gRPC says
 * the call can take more ({@code onReady}), sends messages while it can, and returns, holding no
 * thread while the client is slow. So the daemon holds one batch of the walk and about 32 KiB of
 * unsent bytes per List, whatever the store holds and however slow the client.
 *
 * <p>Messages hold {@value SnapshotsService#LIST_BATCH} infos as containerd's own service sends
 * them, fewer when that would exceed {@link SnapshotsService#LIST_BATCH_BYTES}.
 *
 * <p>Runs on the call's serialized executor only, so it needs no locking.
 */
final class ListStreamer implements Runnable {
  private final ServerCallStreamObserver<ListSnapshotsResponse> call;
  private final Iterator<List<dev.obd.snapshotter.snapshots.Info>> walk;
  private final Deque<Info> pending = new ArrayDeque<>();
  private boolean done;

  ListStreamer(
      ServerCallStreamObserver<ListSnapshotsResponse> call,
      Iterator<List<dev.obd.snapshotter.snapshots.Info>> walk) {
    this.call = call;
    this.walk = walk;
  }

  @Override
  public void run() {
    if (done) {
      return;
    }
    try {
      while (call.isReady() && !call.isCancelled()) {
        ListSnapshotsResponse message = nextMessage();
        if (message.getInfoCount() == 0) {
          done = true;
          call.onCompleted();
          return;
        }
        call.onNext(message);
      }
      if (call.isCancelled()) {
        done = true; // the client went away; drop the rest quietly
      }
    } catch (RuntimeException | Error e) {
      done = true;
      if (!call.isCancelled()) {
        call.onError(ErrorMapping.toStatus(e));
      }
    }
  }

  /** The next message: empty when the walk is over. */
  private ListSnapshotsResponse nextMessage() {
    ListSnapshotsResponse.Builder message = ListSnapshotsResponse.newBuilder();
    int bytes = 0;
    while (message.getInfoCount() < SnapshotsService.LIST_BATCH) {
      if (pending.isEmpty()) {
        if (!walk.hasNext()) {
          break;
        }
        walk.next().forEach(info -> pending.add(ProtoConverter.info(info)));
      }
      Info info = pending.peekFirst();
      if (message.getInfoCount() > 0
          && bytes + info.getSerializedSize() > SnapshotsService.LIST_BATCH_BYTES) {
        break;
      }
      message.addInfo(pending.removeFirst());
      bytes += info.getSerializedSize();
    }
    return message.build();
  }
}
