package dev.obd.snapshotter.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.config.ImageConfig;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UsageRequest;
import dev.obd.proto.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.obd.snapshotter.overlaybd.Labels;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;

/**
 * Each kind of failure reaches a gRPC client with the code containerd's errdefs give it and a
 * description naming what failed: the real snapshotter behind the adapter, over the in-process
 * transport, without root.
 */
class SnapshotsServiceErrorCodesTest {
  private static final String CHAIN = "sha256:" + "c".repeat(64);

  /** Prepares of this key fail as on a full disk. */
  private static final String NO_SPACE = "no-space-left";

  /** Usage of this key fails with a bug. */
  private static final String BUGGY = "buggy";

  @RegisterExtension
  final InProcessSnapshots served =
      new InProcessSnapshots(
          InProcessSnapshots.intercepting(
              (method, args, real) -> {
                if (method.equals("prepare") && args[0].equals(NO_SPACE)) {
                  throw new UncheckedIOException(
                      "create the directory of snapshot " + args[0],
                      new FileSystemException(
                          "/r/snapshots/new-7/fs", null, "No space left on device"));
                }
                if (method.equals("usage") && args[0].equals(BUGGY)) {
                  throw new IllegalStateException("usage walked into a bug");
                }
                return real.call();
              }));

  private SnapshotsBlockingStub stub;

  @BeforeEach
  void storeOneSnapshotOfEachKind() {
    stub = served.stub();
    prepare("base-active", "", Map.of());
    stub.commit(CommitSnapshotRequest.newBuilder().setName("base").setKey("base-active").build());
    prepare("active", "base", Map.of());
    stub.view(ViewSnapshotRequest.newBuilder().setKey("view").setParent("base").build());
  }

  private void prepare(String key, String parent, Map<String, String> labels) {
    stub.prepare(
        PrepareSnapshotRequest.newBuilder()
            .setKey(key)
            .setParent(parent)
            .putAllLabels(labels)
            .build());
  }

  /**
   * Each of {@code calls} fails with {@code code} and a description containing {@code described}.
   */
  private static void answers(Status.Code code, String described, Executable... calls) {
    for (Executable call : calls) {
      assertThatThrownBy(call::execute)
          .isInstanceOfSatisfying(
              StatusRuntimeException.class,
              e -> {
                assertThat(e.getStatus().getCode()).as(e.getMessage()).isEqualTo(code);
                assertThat(e.getStatus().getDescription()).contains(described);
              });
    }
  }

  @Test
  void everyCallOnAnUnknownKeyAnswersNotFound() {
    answers(
        Status.Code.NOT_FOUND,
        "gone",
        () -> stub.stat(StatSnapshotRequest.newBuilder().setKey("gone").build()),
        () -> stub.mounts(MountsRequest.newBuilder().setKey("gone").build()),
        () -> stub.usage(UsageRequest.newBuilder().setKey("gone").build()),
        () -> stub.remove(RemoveSnapshotRequest.newBuilder().setKey("gone").build()),
        () -> stub.commit(CommitSnapshotRequest.newBuilder().setName("n").setKey("gone").build()),
        () ->
            stub.update(
                UpdateSnapshotRequest.newBuilder()
                    .setInfo(Info.newBuilder().setName("gone"))
                    .build()),
        () -> prepare("child", "gone", Map.of()));
  }

  @Test
  void aKeyOrNameInUseAnswersAlreadyExists() {
    answers(Status.Code.ALREADY_EXISTS, "active", () -> prepare("active", "", Map.of()));
    answers(
        Status.Code.ALREADY_EXISTS,
        "view",
        () -> stub.view(ViewSnapshotRequest.newBuilder().setKey("view").build()));
    answers(
        Status.Code.ALREADY_EXISTS,
        "base",
        () ->
            stub.commit(
                CommitSnapshotRequest.newBuilder().setName("base").setKey("active").build()));
  }

  @Test
  void aRemoteLayerIsRecordedAndAnsweredAlreadyExistsAsContainerdExpects() {
    answers(
        Status.Code.ALREADY_EXISTS, CHAIN, () -> prepare("extract-1 " + CHAIN, "", remoteLayer()));
    assertThat(stub.stat(StatSnapshotRequest.newBuilder().setKey(CHAIN).build()).getInfo())
        .satisfies(i -> assertThat(i.getKind().name()).isEqualTo("COMMITTED"));
  }

  @Test
  void aParentThatIsNotCommittedOrAnImmutableFieldAnswersInvalidArgument() {
    answers(Status.Code.INVALID_ARGUMENT, "not committed", () -> prepare("k", "active", Map.of()));
    Info base = stub.stat(StatSnapshotRequest.newBuilder().setKey("base").build()).getInfo();
    answers(
        Status.Code.INVALID_ARGUMENT,
        "parent",
        () ->
            stub.update(
                UpdateSnapshotRequest.newBuilder()
                    .setInfo(base.toBuilder().setParent("other"))
                    .setUpdateMask(
                        com.google.protobuf.FieldMask.newBuilder().addPaths("parent").build())
                    .build()));
  }

  @Test
  void removingAParentOrAskingTheMountsOfACommittedSnapshotAnswersFailedPrecondition() {
    answers(
        Status.Code.FAILED_PRECONDITION,
        "child",
        () -> stub.remove(RemoveSnapshotRequest.newBuilder().setKey("base").build()));
    answers(
        Status.Code.FAILED_PRECONDITION,
        "base",
        () -> stub.mounts(MountsRequest.newBuilder().setKey("base").build()));
    answers(
        Status.Code.FAILED_PRECONDITION,
        "not active",
        () -> stub.commit(CommitSnapshotRequest.newBuilder().setName("c").setKey("view").build()));
  }

  @Test
  void aContainerWhoseImageDeviceCannotBeAttachedAnswersUnavailable() {
    answers(
        Status.Code.ALREADY_EXISTS, CHAIN, () -> prepare("extract-1 " + CHAIN, "", remoteLayer()));
    answers(
        Status.Code.UNAVAILABLE,
        "this test host attaches no devices",
        () -> prepare("container", CHAIN, Map.of()));
    answers(
        Status.Code.NOT_FOUND,
        "container",
        () -> stub.stat(StatSnapshotRequest.newBuilder().setKey("container").build()));
  }

  @Test
  void aLayerWhoseConfigIsDamagedAnswersFailedPreconditionNamingTheBadKey() throws Exception {
    answers(
        Status.Code.ALREADY_EXISTS, CHAIN, () -> prepare("extract-1 " + CHAIN, "", remoteLayer()));
    Path config;
    try (Stream<Path> found = Files.walk(served.snapshotterRoot().resolve("snapshots"))) {
      config = found.filter(p -> p.endsWith("block/config.v1.json")).findFirst().orElseThrow();
    }
    Files.writeString(config, "{\"lowers\":[{\"size\":\"big\"}]}");
    String next = "sha256:" + "e".repeat(64);
    Map<String, String> above = new HashMap<>(remoteLayer());
    above.put(Labels.SNAPSHOT_REF, next);
    answers(
        Status.Code.FAILED_PRECONDITION,
        "read image config " + config + ": lowers[0].size: expected an integer",
        () -> prepare("extract-2 " + next, CHAIN, above));
  }

  @Test
  void aLayerAboveAsManyAsOverlaybdStacksAnswersFailedPrecondition() {
    String parent = "";
    for (int i = 0; i < ImageConfig.MAX_LOWERS; i++) {
      String chain = String.format("sha256:%064x", i + 1);
      Map<String, String> labels = new HashMap<>(remoteLayer());
      labels.put(Labels.SNAPSHOT_REF, chain);
      String below = parent;
      answers(Status.Code.ALREADY_EXISTS, chain, () -> prepare("extract " + chain, below, labels));
      parent = chain;
    }
    String top = String.format("sha256:%064x", ImageConfig.MAX_LOWERS + 1);
    Map<String, String> labels = new HashMap<>(remoteLayer());
    labels.put(Labels.SNAPSHOT_REF, top);
    String below = parent;
    answers(
        Status.Code.FAILED_PRECONDITION,
        "stacks 255 block layers, as many as overlaybd can",
        () -> prepare("extract " + top, below, labels));
  }

  @Test
  void aFullDiskAnywhereBelowAnswersResourceExhausted() {
    answers(
        Status.Code.RESOURCE_EXHAUSTED,
        "No space left on device",
        () -> prepare(NO_SPACE, "", Map.of()));
  }

  @Test
  void aFailureNobodyClassifiedAnswersUnknownWithItsMessage() {
    answers(
        Status.Code.UNKNOWN,
        "usage walked into a bug",
        () -> stub.usage(UsageRequest.newBuilder().setKey(BUGGY).build()));
  }

  @Test
  void aHugeUnknownKeyStillAnswersNotFoundWithADescriptionThatFitsTheTrailers() {
    String key = "k".repeat(1 << 20);
    assertThatThrownBy(() -> stub.stat(StatSnapshotRequest.newBuilder().setKey(key).build()))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.getStatus().getDescription())
                  .hasSizeLessThanOrEqualTo(ErrorMapping.MAX_DESCRIPTION_CHARS + 40);
            });
  }

  /** The labels containerd's remote-snapshot unpacker gives an OverlayBD layer it does not pull. */
  private static Map<String, String> remoteLayer() {
    return Map.of(
        Labels.SNAPSHOT_REF,
        CHAIN,
        Labels.BLOB_DIGEST,
        "sha256:" + "d".repeat(64),
        Labels.BLOB_SIZE,
        "4096",
        Labels.CRI_IMAGE_REF,
        "registry.test/hello:latest");
  }
}
