package dev.obd.snapshotter.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.snapshotter.snapshots.LabelRules;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * List answers as a stream: every matching snapshot exactly once, in messages of at most {@value
 * SnapshotsService#LIST_BATCH} infos and about {@link SnapshotsService#LIST_BATCH_BYTES} bytes,
 * whatever the store's own batches are.
 */
class SnapshotsServiceListTest {
  @RegisterExtension final InProcessSnapshots served = new InProcessSnapshots();
  private SnapshotsBlockingStub stub;

  @BeforeEach
  void serve() {
    stub = served.stub();
  }

  private List<ListSnapshotsResponse> list(String... filters) {
    return InProcessSnapshots.messages(
        stub.list(ListSnapshotsRequest.newBuilder().addAllFilters(List.of(filters)).build()));
  }

  private void prepare(String key, Map<String, String> labels) {
    stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).putAllLabels(labels).build());
  }

  private static List<Integer> sizes(List<ListSnapshotsResponse> messages) {
    return messages.stream().map(ListSnapshotsResponse::getInfoCount).toList();
  }

  @Test
  void anEmptyStoreAnswersWithoutAnyMessage() {
    assertThat(list()).isEmpty();
  }

  @Test
  void moreSnapshotsThanTheStoreReadsAtOnceArriveInMessagesOf100() {
    int count = 650; // more than two of the store's batches of 256
    IntStream.range(0, count).forEach(i -> prepare(String.format("s%03d", i), Map.of()));
    List<ListSnapshotsResponse> messages = list();
    assertThat(sizes(messages)).containsExactly(100, 100, 100, 100, 100, 100, 50);
    assertThat(messages.stream().flatMap(m -> m.getInfoList().stream()).map(i -> i.getName()))
        .doesNotHaveDuplicates()
        .hasSize(count);
  }

  @Test
  void filtersSelectAcrossTheStoresBatchesAndAnyOfSeveralMatches() {
    IntStream.range(0, 600)
        .forEach(i -> prepare("s" + i, Map.of("parity", i % 2 == 0 ? "even" : "odd")));
    assertThat(sizes(list("labels.parity==even"))).containsExactly(100, 100, 100);
    assertThat(
            InProcessSnapshots.names(
                stub.list(
                    ListSnapshotsRequest.newBuilder()
                        .addFilters("name==s7")
                        .addFilters("name==s8,labels.parity==even")
                        .addFilters("name==s9,labels.parity==even")
                        .build())))
        .containsExactlyInAnyOrder("s7", "s8");
    assertThat(list("labels.parity==none")).isEmpty();
  }

  @Test
  void snapshotsWithLargeLabelsArriveInMessagesOfAboutAMebibyte() {
    String value = "v".repeat(LabelRules.MAX_KEY_AND_VALUE_BYTES - 10);
    Map<String, String> labels =
        Map.of("label-1", value, "label-2", value, "label-3", value, "label-4", value);
    int count = 120; // 120 x 16 KiB: more than one mebibyte in fewer than 100 infos
    IntStream.range(0, count).forEach(i -> prepare("big-" + i, labels));
    List<ListSnapshotsResponse> messages = list();
    assertThat(messages).hasSizeGreaterThan(1);
    assertThat(messages)
        .allSatisfy(
            // the bound counts the infos; each adds a few bytes of field header on the wire
            m ->
                assertThat(m.getSerializedSize())
                    .isLessThanOrEqualTo(SnapshotsService.LIST_BATCH_BYTES + 8 * m.getInfoCount()));
    assertThat(sizes(messages).stream().mapToInt(Integer::intValue).sum()).isEqualTo(count);
    assertThat(messages.get(0).getInfo(0).getLabelsMap()).isEqualTo(labels);
  }
}
