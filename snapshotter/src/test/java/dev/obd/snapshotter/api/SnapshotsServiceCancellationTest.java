package dev.obd.snapshotter.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.snapshotter.snapshots.Info;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A client that goes away, by cancelling or by letting its deadline expire: a List stops reading
 * the store, and the server goes on serving everyone else. A unary call runs to its end (its work,
 * one metadata transaction, is not abandoned half-way), without holding up other calls.
 */
class SnapshotsServiceCancellationTest {
  /** Snapshots in the store: five of the store's walk batches. */
  private static final int SNAPSHOTS = 1200;

  /** Batches the adapter has read from the snapshotter's walks. */
  private final AtomicInteger batchesRead = new AtomicInteger();

  /** Prepares of the key "slow" wait for this. */
  private final CountDownLatch slowMayGoOn = new CountDownLatch(1);

  @RegisterExtension
  final InProcessSnapshots served =
      new InProcessSnapshots(
          InProcessSnapshots.intercepting(
              (method, args, real) -> {
                if (method.equals("prepare") && args[0].equals("slow")) {
                  slowMayGoOn.await();
                }
                Object answer = real.call();
                if (method.equals("walk") && args.length == 1) {
                  return counted(answerAs(answer));
                }
                return answer;
              }));

  private SnapshotsBlockingStub stub;

  @BeforeEach
  void stub() {
    stub = served.stub();
  }

  @AfterEach
  void releaseTheSlowPrepare() {
    slowMayGoOn.countDown();
  }

  @SuppressWarnings("unchecked")
  private static Iterator<List<Info>> answerAs(Object walk) {
    return (Iterator<List<Info>>) walk;
  }

  private Iterator<List<Info>> counted(Iterator<List<Info>> walk) {
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return walk.hasNext();
      }

      @Override
      public List<Info> next() {
        batchesRead.incrementAndGet();
        return walk.next();
      }
    };
  }

  private void prepare(String key) {
    stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).build());
  }

  enum ClientGoesAway {
    CANCELS,
    LETS_ITS_DEADLINE_EXPIRE
  }

  @ParameterizedTest
  @EnumSource(ClientGoesAway.class)
  void aListWhoseClientGoesAwayAfterOneMessageStopsReadingTheStore(ClientGoesAway how)
      throws Exception {
    IntStream.range(0, SNAPSHOTS).forEach(i -> prepare("s" + i));
    CallOptions options = CallOptions.DEFAULT;
    if (how == ClientGoesAway.LETS_ITS_DEADLINE_EXPIRE) {
      options = options.withDeadlineAfter(2, TimeUnit.SECONDS);
    }
    ClientCall<ListSnapshotsRequest, ListSnapshotsResponse> call =
        served.channel().newCall(SnapshotsGrpc.getListMethod(), options);
    CountDownLatch firstMessage = new CountDownLatch(1);
    CompletableFuture<Status> closed = new CompletableFuture<>();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(ListSnapshotsResponse message) {
            firstMessage.countDown();
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            closed.complete(status);
          }
        },
        new Metadata());
    call.request(1); // and never more: the client reads one message, then goes away
    call.sendMessage(ListSnapshotsRequest.getDefaultInstance());
    call.halfClose();
    assertThat(firstMessage.await(InProcessSnapshots.DEADLINE_SECONDS, TimeUnit.SECONDS)).isTrue();
    if (how == ClientGoesAway.CANCELS) {
      call.cancel("the client went away", null);
    }
    Status status = closed.get(InProcessSnapshots.DEADLINE_SECONDS, TimeUnit.SECONDS);
    assertThat(status.getCode())
        .isEqualTo(
            how == ClientGoesAway.CANCELS ? Status.Code.CANCELLED : Status.Code.DEADLINE_EXCEEDED);
    Thread.sleep(200); // time for the server to react, if it were going to read on

    int batchesOfTheWholeStore = SNAPSHOTS / 256 + 1;
    assertThat(batchesRead.get())
        .as("store batches read for one message of 100 infos")
        .isLessThan(batchesOfTheWholeStore);
    assertThat(InProcessSnapshots.names(stub.list(ListSnapshotsRequest.getDefaultInstance())))
        .hasSize(SNAPSHOTS);
  }

  @Test
  void aPrepareWhoseDeadlineExpiresHoldsUpNoOtherCallAndStillCompletes() throws Exception {
    prepare("layer");
    assertThatThrownBy(
            () ->
                stub.withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                    .prepare(PrepareSnapshotRequest.newBuilder().setKey("slow").build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED));

    // the abandoned call is still working on the server: others are served meanwhile
    prepare("other");
    assertThat(stub.stat(StatSnapshotRequest.newBuilder().setKey("layer").build()).hasInfo())
        .isTrue();

    slowMayGoOn.countDown();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(InProcessSnapshots.DEADLINE_SECONDS);
    while (!InProcessSnapshots.names(stub.list(ListSnapshotsRequest.getDefaultInstance()))
            .contains("slow")
        && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    assertThat(InProcessSnapshots.names(stub.list(ListSnapshotsRequest.getDefaultInstance())))
        .containsExactlyInAnyOrder("layer", "other", "slow");
    // containerd retrying the Prepare learns that it happened after all
    assertThatThrownBy(() -> prepare("slow"))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS));
  }
}
