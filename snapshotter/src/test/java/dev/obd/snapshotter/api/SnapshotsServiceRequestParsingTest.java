package dev.obd.snapshotter.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.FieldMask;
import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.obd.snapshotter.snapshots.LabelRules;
import dev.obd.testsupport.grpc.RawBytes;
import io.grpc.CallOptions;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the adapter accepts: requests that do not decode, keys and names left empty, labels beyond
 * containerd's limits, filters that do not parse and update masks naming immutable fields are each
 * an INVALID_ARGUMENT that names the problem and changes nothing; fields this version does not know
 * are ignored, as proto3 wants.
 */
class SnapshotsServiceRequestParsingTest {
  @RegisterExtension final InProcessSnapshots served = new InProcessSnapshots();
  private SnapshotsBlockingStub stub;

  @BeforeEach
  void serve() {
    stub = served.stub();
    stub.prepare(PrepareSnapshotRequest.newBuilder().setKey("layer-active").build());
    stub.commit(CommitSnapshotRequest.newBuilder().setName("layer").setKey("layer-active").build());
  }

  @AfterEach
  void nothingChangedAndTheServerStillServes() {
    assertThat(InProcessSnapshots.names(stub.list(ListSnapshotsRequest.getDefaultInstance())))
        .containsExactly("layer");
  }

  private static void invalid(String described, Executable call) {
    assertThatThrownBy(call::execute)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode())
                  .as(e.getMessage())
                  .isEqualTo(Status.Code.INVALID_ARGUMENT);
              assertThat(e.getStatus().getDescription()).contains(described);
            });
  }

  @Test
  void aPrepareWhoseLabelKeyIsNotUtf8IsMalformed() {
    ByteString notUtf8 = ByteString.copyFrom(new byte[] {(byte) 0xc3, (byte) 0x28});
    byte[] entry = encode(out -> out.writeBytes(1, notUtf8));
    byte[] request =
        encode(
            out -> {
              out.writeString(2, "container");
              out.writeByteArray(4, entry);
            });
    invalid("malformed request", () -> raw(SnapshotsGrpc.getPrepareMethod(), request));
  }

  @Test
  void aRequestCutOffInTheMiddleOfAFieldIsMalformed() {
    byte[] whole = StatSnapshotRequest.newBuilder().setKey("layer").build().toByteArray();
    byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 2);
    invalid("malformed request", () -> raw(SnapshotsGrpc.getStatMethod(), cut));
  }

  @Test
  void fieldsThisVersionDoesNotKnowAreIgnored() {
    byte[] request =
        encode(
            out -> {
              out.writeString(2, "layer");
              out.writeString(99, "from a newer containerd");
            });
    assertThat(raw(SnapshotsGrpc.getStatMethod(), request).getInfo().getName()).isEqualTo("layer");
  }

  @Test
  void emptyKeysAndNamesAreRejectedByName() {
    invalid("key", () -> stub.prepare(PrepareSnapshotRequest.newBuilder().setParent("").build()));
    invalid(
        "name",
        () -> stub.commit(CommitSnapshotRequest.newBuilder().setKey("layer-active").build()));
    invalid(
        "name",
        () ->
            stub.update(
                UpdateSnapshotRequest.newBuilder().setInfo(Info.getDefaultInstance()).build()));
  }

  @Test
  void labelsAreHeldToContainerdsLimits() {
    invalid("empty", () -> prepareWithLabels(Map.of("", "v")));
    invalid(
        "maximum size",
        () -> prepareWithLabels(Map.of("k", "v".repeat(LabelRules.MAX_KEY_AND_VALUE_BYTES))));
    Map<String, String> many = new java.util.HashMap<>();
    for (int i = 0; many.size() * 4000 <= LabelRules.MAX_TOTAL_BYTES; i++) {
      many.put("label-" + i, "v".repeat(3990));
    }
    invalid("bytes", () -> prepareWithLabels(many));
  }

  @ParameterizedTest
  @ValueSource(strings = {"labels.", "name==", "kind===active", "name~=[", ",", "parent==\"open"})
  void aFilterThatDoesNotParseIsRejected(String filter) {
    invalid(
        "filter",
        () -> stub.list(ListSnapshotsRequest.newBuilder().addFilters(filter).build()).hasNext());
  }

  @ParameterizedTest
  @ValueSource(strings = {"name", "parent", "kind", "created_at", "updated_at", "label"})
  void anUpdateMaskNamingAnythingButLabelsIsRejected(String path) {
    Info layer = stub.stat(StatSnapshotRequest.newBuilder().setKey("layer").build()).getInfo();
    invalid(
        path,
        () ->
            stub.update(
                UpdateSnapshotRequest.newBuilder()
                    .setInfo(layer)
                    .setUpdateMask(FieldMask.newBuilder().addPaths(path))
                    .build()));
    assertThat(stub.stat(StatSnapshotRequest.newBuilder().setKey("layer").build()).getInfo())
        .isEqualTo(layer);
  }

  @Test
  void theSnapshotterFieldIsIgnoredAsOneProxyServesOneSnapshotter() {
    assertThat(
            stub.stat(
                    StatSnapshotRequest.newBuilder()
                        .setSnapshotter("some-other-snapshotter")
                        .setKey("layer")
                        .build())
                .getInfo()
                .getName())
        .isEqualTo("layer");
  }

  private void prepareWithLabels(Map<String, String> labels) {
    stub.prepare(
        PrepareSnapshotRequest.newBuilder().setKey("labelled").putAllLabels(labels).build());
  }

  /** Sends {@code request} as it is, undecoded, and returns the decoded response. */
  private <R> R raw(MethodDescriptor<?, R> method, byte[] request) {
    MethodDescriptor<byte[], R> asBytes =
        method.toBuilder(new RawBytes(), method.getResponseMarshaller()).build();
    return ClientCalls.blockingUnaryCall(
        served.channel(),
        asBytes,
        CallOptions.DEFAULT.withDeadlineAfter(
            InProcessSnapshots.DEADLINE_SECONDS, TimeUnit.SECONDS),
        request);
  }

  @FunctionalInterface
  private interface Fields {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] encode(Fields fields) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    try {
      fields.write(out);
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }
}
