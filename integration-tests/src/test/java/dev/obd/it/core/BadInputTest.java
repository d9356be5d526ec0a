package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.grpc.RawBytes;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Requests a careless or hostile client sends: each gets the gRPC code containerd expects and a
 * message naming the problem, nothing is lost, and the daemon keeps serving.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BadInputTest {
  private Path base;
  private SnapshotterDaemon daemon;
  private SnapshotsClient client;

  @BeforeAll
  void start() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-badinput-");
    daemon = SnapshotterDaemon.start(base.resolve("root"), base.resolve("obd.sock"));
    client = daemon.client();
    client.prepare("base-active", "");
    client.commit("base", "base-active");
    client.prepare("active", "base");
    client.view("view", "base");
  }

  @AfterEach
  void daemonStillServesAndKeptItsData() {
    assertThat(client.stat("base").getKind()).isEqualTo(Kind.COMMITTED);
    assertThat(client.stat("active").getKind()).isEqualTo(Kind.ACTIVE);
    assertThat(client.stat("view").getKind()).isEqualTo(Kind.VIEW);
  }

  @AfterAll
  void stop() throws IOException {
    if (daemon != null) {
      assertThat(daemon.logTail(100000)).doesNotContain("UNKNOWN");
      assertThat(daemon.stop()).isZero();
    }
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  private static void assertCode(Status.Code code, String messagePart, Runnable call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).as(e.getMessage()).isEqualTo(code);
              assertThat(e.getStatus().getDescription()).contains(messagePart);
            });
  }

  @Test
  void unknownKeysAreNotFound() {
    assertCode(Status.Code.NOT_FOUND, "nope", () -> client.stat("nope"));
    assertCode(Status.Code.NOT_FOUND, "nope", () -> client.mounts("nope"));
    assertCode(Status.Code.NOT_FOUND, "nope", () -> client.remove("nope"));
    assertCode(Status.Code.NOT_FOUND, "nope", () -> client.usage("nope"));
    assertCode(Status.Code.NOT_FOUND, "nope", () -> client.commit("new-name", "nope"));
    assertCode(
        Status.Code.NOT_FOUND,
        "nope",
        () -> client.update(Info.newBuilder().setName("nope").build()));
  }

  @Test
  void unknownParentsAreNotFound() {
    assertCode(Status.Code.NOT_FOUND, "no-parent", () -> client.prepare("k1", "no-parent"));
    assertCode(Status.Code.NOT_FOUND, "no-parent", () -> client.view("k2", "no-parent"));
    assertCode(Status.Code.NOT_FOUND, "k1", () -> client.stat("k1"));
  }

  @Test
  void aParentThatIsNotCommittedIsAnInvalidArgument() {
    assertCode(Status.Code.INVALID_ARGUMENT, "not committed", () -> client.prepare("k3", "active"));
    assertCode(Status.Code.INVALID_ARGUMENT, "not committed", () -> client.view("k4", "view"));
  }

  @Test
  void committingAViewOrACommittedSnapshotFailsWithFailedPrecondition() {
    assertCode(
        Status.Code.FAILED_PRECONDITION, "not active", () -> client.commit("from-view", "view"));
    assertCode(Status.Code.FAILED_PRECONDITION, "not active", () -> client.commit("again", "base"));
    assertCode(Status.Code.NOT_FOUND, "from-view", () -> client.stat("from-view"));
  }

  @Test
  void duplicateKeysAndNamesAlreadyExist() {
    assertCode(Status.Code.ALREADY_EXISTS, "active", () -> client.prepare("active", ""));
    assertCode(Status.Code.ALREADY_EXISTS, "view", () -> client.view("view", "base"));
    assertCode(Status.Code.ALREADY_EXISTS, "base", () -> client.prepare("base", ""));
    assertCode(Status.Code.ALREADY_EXISTS, "base", () -> client.commit("base", "active"));
    assertCode(Status.Code.ALREADY_EXISTS, "view", () -> client.commit("view", "active"));
  }

  @Test
  void emptyKeysAndNamesAreInvalid() {
    assertCode(Status.Code.INVALID_ARGUMENT, "key", () -> client.prepare("", ""));
    assertCode(Status.Code.INVALID_ARGUMENT, "key", () -> client.view("", "base"));
    assertCode(Status.Code.INVALID_ARGUMENT, "name", () -> client.commit("", "active"));
    assertCode(
        Status.Code.INVALID_ARGUMENT, "name", () -> client.update(Info.newBuilder().build()));
  }

  @Test
  void labelsBeyondContainerdsSizeLimitAreInvalid() {
    String big = "v".repeat(4096);
    assertCode(
        Status.Code.INVALID_ARGUMENT,
        "maximum size",
        () -> client.prepare("big", "", Map.of("k", big)));
    assertCode(
        Status.Code.INVALID_ARGUMENT,
        "maximum size",
        () -> client.commit("big-c", "active", Map.of("k", big)));
    Info withBig = client.stat("base").toBuilder().putLabels("k", big).build();
    assertCode(Status.Code.INVALID_ARGUMENT, "maximum size", () -> client.update(withBig));
    assertCode(
        Status.Code.INVALID_ARGUMENT, "empty", () -> client.prepare("e", "", Map.of("", "v")));
    // exactly at the limit is fine
    client.prepare("at-limit", "", Map.of("k", "v".repeat(4095)));
    client.remove("at-limit");
    assertCode(Status.Code.NOT_FOUND, "big", () -> client.stat("big"));
  }

  @Test
  void aLabelThatIsNotUtf8IsAnInvalidArgument() {
    // PrepareSnapshotRequest{key: "raw", labels: {"\xff\xfe": "v"}}, encoded by hand
    ByteArrayOutputStream entry = new ByteArrayOutputStream();
    entry.writeBytes(new byte[] {0x0a, 2, (byte) 0xff, (byte) 0xfe, 0x12, 1, 'v'});
    ByteArrayOutputStream req = new ByteArrayOutputStream();
    req.writeBytes(new byte[] {0x12, 3, 'r', 'a', 'w', 0x22, (byte) entry.size()});
    req.writeBytes(entry.toByteArray());
    MethodDescriptor<byte[], PrepareSnapshotResponse> raw =
        SnapshotsGrpc.getPrepareMethod().toBuilder(
                new RawBytes(), ProtoUtils.marshaller(PrepareSnapshotResponse.getDefaultInstance()))
            .build();
    assertCode(
        Status.Code.INVALID_ARGUMENT,
        "malformed",
        () ->
            ClientCalls.blockingUnaryCall(
                client.channel(),
                raw,
                CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS),
                req.toByteArray()));
    assertCode(Status.Code.NOT_FOUND, "raw", () -> client.stat("raw"));
  }

  @Test
  void malformedFiltersAreInvalidArguments() {
    for (String f :
        List.of(
            "labels.",
            "name==",
            "kind===active",
            "name==\"unterminated",
            "name~=[",
            ",",
            "name==a b",
            "labels.\"x\"==/slashes/")) {
      assertCode(Status.Code.INVALID_ARGUMENT, "filters", () -> client.list(f));
    }
  }

  @Test
  void immutableFieldsCannotBeUpdated() {
    Info base = client.stat("base");
    for (String path : List.of("name", "parent", "kind", "created_at")) {
      assertCode(Status.Code.INVALID_ARGUMENT, path, () -> client.update(base, path));
    }
    assertThat(client.stat("base")).isEqualTo(base);
  }

  @Test
  void concurrentPreparesOfOneKeyLetExactlyOneWin() throws Exception {
    List<Status.Code> codes = race(16, i -> () -> client.prepare("contended", "base"));
    assertThat(codes).filteredOn(c -> c == Status.Code.OK).hasSize(1);
    assertThat(codes).filteredOn(c -> c == Status.Code.ALREADY_EXISTS).hasSize(15);

    codes = race(16, i -> () -> client.commit("contended-" + i, "contended"));
    assertThat(codes).filteredOn(c -> c == Status.Code.OK).hasSize(1);
    assertThat(codes).filteredOn(c -> c == Status.Code.NOT_FOUND).hasSize(15);
    String winner =
        client.list("parent==base,kind==committed").stream()
            .map(Info::getName)
            .filter(n -> n.startsWith("contended-"))
            .findFirst()
            .orElseThrow();

    codes = race(16, i -> () -> client.remove(winner));
    assertThat(codes).filteredOn(c -> c == Status.Code.OK).hasSize(1);
    assertThat(codes).filteredOn(c -> c == Status.Code.NOT_FOUND).hasSize(15);
    assertThat(client.list("name~=^contended")).isEmpty();
    assertThat(Files.list(daemon.root().resolve("snapshots")).count())
        .as("one directory per remaining snapshot")
        .isEqualTo(client.list().size());
  }

  @Test
  void removingAParentWhileChildrenArePreparedNeverOrphansThem() throws Exception {
    client.prepare("p-active", "");
    client.commit("p", "p-active");
    List<Status.Code> codes =
        race(9, i -> i == 0 ? () -> client.remove("p") : () -> client.prepare("child-" + i, "p"));
    boolean removed = codes.get(0) == Status.Code.OK;
    for (Info i : client.list("name~=^child-")) {
      assertThat(removed).as("a child exists, so its parent must too").isFalse();
      assertThat(client.stat(i.getParent()).getKind()).isEqualTo(Kind.COMMITTED);
      client.remove(i.getName());
    }
    if (!removed) {
      client.remove("p");
    }
  }

  @Test
  void aClientThatDisconnectsMidStreamDoesNotHurtTheDaemon() throws Exception {
    for (int i = 0; i < 1500; i++) {
      client.prepare("stream-" + i, "", Map.of("stream", "yes"));
    }
    for (int round = 0; round < 20; round++) {
      ClientCall<ListSnapshotsRequest, ListSnapshotsResponse> call =
          client.channel().newCall(SnapshotsGrpc.getListMethod(), CallOptions.DEFAULT);
      CountDownLatch first = new CountDownLatch(1);
      call.start(
          new ClientCall.Listener<>() {
            @Override
            public void onMessage(ListSnapshotsResponse message) {
              first.countDown();
            }
          },
          new Metadata());
      call.request(1);
      call.sendMessage(ListSnapshotsRequest.getDefaultInstance());
      call.halfClose();
      assertThat(first.await(30, TimeUnit.SECONDS)).isTrue();
      call.cancel("client went away", null);
    }
    try (SnapshotsClient other = SnapshotsClient.connect(daemon.socket())) {
      assertThat(other.list("labels.stream==yes")).hasSize(1500);
    }
    for (int i = 0; i < 1500; i++) {
      client.remove("stream-" + i);
    }
  }

  /** Runs {@code n} calls at once and returns each one's status code (OK if it succeeded). */
  private static List<Status.Code> race(int n, java.util.function.IntFunction<Runnable> calls)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(n);
    try {
      CountDownLatch go = new CountDownLatch(1);
      List<Future<Status.Code>> futures = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Runnable call = calls.apply(i);
        Callable<Status.Code> task =
            () -> {
              go.await();
              try {
                call.run();
                return Status.Code.OK;
              } catch (StatusRuntimeException e) {
                return e.getStatus().getCode();
              }
            };
        futures.add(pool.submit(task));
      }
      go.countDown();
      List<Status.Code> codes = new ArrayList<>();
      for (Future<Status.Code> f : futures) {
        codes.add(f.get(60, TimeUnit.SECONDS));
      }
      return codes;
    } finally {
      pool.shutdownNow();
    }
  }
}
