package dev.obd.snapshotter.daemon;

import com.google.protobuf.FieldMask;
import dev.obd.proto.containerd.snapshots.v1.CleanupRequest;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The client side of the warm-up: real connections to the server's socket and every RPC of the
 * Snapshots service, in rounds, so that what containerd's first connection and first calls run has
 * been loaded, linked, initialized and, for the hot parts, compiled. Each round opens a connection
 * that hangs up after the HTTP/2 connection preface (the exchange grpc-go gives about a second),
 * then one that calls each RPC once with success, plus NOT_FOUND, ALREADY_EXISTS and
 * FAILED_PRECONDITION, over {@link WarmUpConnection}. Two threads call at once, so that the request
 * executor has its threads and the metadata writer has seen contention.
 *
 * <p>Meant for a scratch snapshotter: the calls create and remove snapshots of their own and leave
 * none behind.
 */
final class WarmUpCalls {
  private static final int THREADS = 2;

  /** The whole warm-up's deadline; a server that stalls longer is serving badly anyway. */
  private static final long DEADLINE_SECONDS = 60;

  private final Path socket;
  private final long deadlineSeconds;

  WarmUpCalls(Path socket) {
    this(socket, DEADLINE_SECONDS);
  }

  /** With a deadline of {@code deadlineSeconds} for the whole warm-up instead of a minute. */
  WarmUpCalls(Path socket, long deadlineSeconds) {
    this.socket = socket;
    this.deadlineSeconds = deadlineSeconds;
  }

  /**
   * Runs {@code rounds} rounds on each of two threads, then one Cleanup.
   *
   * @throws IllegalStateException if a call fails otherwise than the warm-up expects, or the
   *     warm-up takes longer than its deadline
   */
  void run(int rounds) throws InterruptedException {
    ExecutorService callers = Executors.newFixedThreadPool(THREADS);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(deadlineSeconds);
    try {
      List<Future<?>> threads = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        String prefix = "warm-up-" + t + "-";
        threads.add(callers.submit(() -> callRounds(prefix, rounds)));
      }
      for (Future<?> f : threads) {
        f.get(untilDeadline(deadline), TimeUnit.NANOSECONDS);
      }
      callers
          .submit(
              () -> {
                try (WarmUpConnection c = connect()) {
                  c.call("Cleanup", CleanupRequest.getDefaultInstance(), Status.Code.OK);
                }
                return null;
              })
          .get(untilDeadline(deadline), TimeUnit.NANOSECONDS);
    } catch (ExecutionException e) {
      throw new IllegalStateException("warm-up call failed: " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "the warm-up calls on " + socket + " did not finish within " + deadlineSeconds + " s", e);
    } finally {
      // interrupting a thread blocked in a read closes its connection
      callers.shutdownNow();
    }
  }

  private static long untilDeadline(long deadline) {
    return Math.max(0, deadline - System.nanoTime());
  }

  private Void callRounds(String prefix, int rounds) throws IOException {
    for (int r = 0; r < rounds; r++) {
      long t0 = System.nanoTime();
      // a connection that hangs up right after the preface, as a health probe does: the server's
      // path for a connection closed before it was used differs from that after calls
      try (WarmUpConnection probe = WarmUpConnection.open(socket)) {
        probe.awaitServerPreface(false);
      }
      try (WarmUpConnection c = connect()) {
        long t1 = System.nanoTime();
        callEveryRpc(c, prefix + r + "-");
        if (Boolean.getBoolean("obd.warmUpTrace")) {
          System.err.printf(
              "TRACE %s round %d preface %.1f ms rpcs %.1f ms%n",
              prefix, r, (t1 - t0) / 1e6, (System.nanoTime() - t1) / 1e6);
        }
      }
    }
    return null;
  }

  private WarmUpConnection connect() throws IOException {
    WarmUpConnection c = WarmUpConnection.open(socket);
    try {
      c.awaitServerPreface(true);
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** One round: each RPC, leaving no snapshot behind. */
  private static void callEveryRpc(WarmUpConnection c, String p) throws IOException {
    String active = p + "a";
    String committed = p + "c";
    String child = p + "b";
    String view = p + "v";
    c.call(
        "Prepare",
        PrepareSnapshotRequest.newBuilder()
            .setKey(active)
            .putLabels("containerd.io/snapshot.ref", committed)
            .build(),
        Status.Code.OK);
    c.call(
        "Commit",
        CommitSnapshotRequest.newBuilder()
            .setName(committed)
            .setKey(active)
            .putLabels("containerd.io/gc.root", "warm-up")
            .build(),
        Status.Code.OK);
    c.call(
        "Prepare",
        PrepareSnapshotRequest.newBuilder().setKey(child).setParent(committed).build(),
        Status.Code.OK);
    c.call(
        "View",
        ViewSnapshotRequest.newBuilder().setKey(view).setParent(committed).build(),
        Status.Code.OK);
    MountsResponse.parseFrom(
        only(c.call("Mounts", MountsRequest.newBuilder().setKey(child).build(), Status.Code.OK)));
    c.call("Mounts", MountsRequest.newBuilder().setKey(view).build(), Status.Code.OK);
    Info info =
        StatSnapshotResponse.parseFrom(
                only(
                    c.call(
                        "Stat",
                        StatSnapshotRequest.newBuilder().setKey(committed).build(),
                        Status.Code.OK)))
            .getInfo();
    c.call(
        "Update",
        UpdateSnapshotRequest.newBuilder()
            .setInfo(info.toBuilder().putLabels("warm-up", p))
            .setUpdateMask(FieldMask.newBuilder().addPaths("labels.warm-up"))
            .build(),
        Status.Code.OK);
    List<byte[]> listed =
        c.call(
            "List",
            ListSnapshotsRequest.newBuilder()
                .addFilters("labels.\"warm-up\"==\"" + p + "\",kind==committed")
                .build(),
            Status.Code.OK);
    for (byte[] m : listed) {
      ListSnapshotsResponse.parseFrom(m);
    }
    c.call(
        "List",
        ListSnapshotsRequest.newBuilder().addFilters("parent==\"" + committed + "\"").build(),
        Status.Code.OK);
    c.call("Usage", UsageRequest.newBuilder().setKey(child).build(), Status.Code.OK);
    c.call(
        "Stat",
        StatSnapshotRequest.newBuilder().setKey(p + "missing").build(),
        Status.Code.NOT_FOUND);
    c.call(
        "Prepare",
        PrepareSnapshotRequest.newBuilder().setKey(child).build(),
        Status.Code.ALREADY_EXISTS);
    c.call(
        "Remove",
        RemoveSnapshotRequest.newBuilder().setKey(committed).build(),
        Status.Code.FAILED_PRECONDITION);
    for (String key : new String[] {view, child, committed}) {
      c.call("Remove", RemoveSnapshotRequest.newBuilder().setKey(key).build(), Status.Code.OK);
    }
  }

  private static byte[] only(List<byte[]> messages) throws IOException {
    if (messages.size() != 1) {
      throw new IOException("expected one message in the answer, got " + messages.size());
    }
    return messages.get(0);
  }
}
