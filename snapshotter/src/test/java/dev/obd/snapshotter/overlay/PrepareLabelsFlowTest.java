package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.snapshots.Kind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a Prepare does with the labels it was given, on calls that need no device: which snapshot is
 * recorded with which labels, and what a remote layer's config.v1.json says.
 */
class PrepareLabelsFlowTest {
  private static final String CHAIN = PrepareLabelsTest.CHAIN;

  @TempDir Path root;
  private OverlaySnapshotter snapshotter;

  @BeforeEach
  void open() throws Exception {
    snapshotter =
        OverlaySnapshotter.open(
            root.resolve("root"),
            false,
            List.of(),
            OverlaySnapshotter.BlockSupport.withoutDevices(
                "no devices in this test",
                root.resolve("traces"),
                List.of(new MirrorRegistry("127.0.0.1:5000", true))));
  }

  @AfterEach
  void close() {
    snapshotter.close();
  }

  @Test
  void aRemoteLayerIsCommittedUnderItsChainIdWithItsBlobInItsConfig() throws Exception {
    Map<String, String> labels = PrepareLabelsTest.remoteLabels();
    labels.put("containerd.io/gc.root", "");
    assertThatThrownBy(() -> snapshotter.prepare("default/1/extract-1 " + CHAIN, "", labels))
        .isInstanceOf(AlreadyExistsException.class)
        .hasMessageContaining(CHAIN);
    Map<String, String> expected = new HashMap<>(PrepareLabelsTest.remoteLabels());
    expected.put(Labels.REMOTE, Labels.REMOTE_VALUE);
    assertThat(snapshotter.stat(CHAIN).kind()).isEqualTo(Kind.COMMITTED);
    assertThat(snapshotter.stat(CHAIN).labels()).isEqualTo(expected);
    try (var files = Files.list(root.resolve("root/snapshots"))) {
      Path config = files.findFirst().orElseThrow().resolve("block/config.v1.json");
      assertThat(config)
          .content()
          .contains("\"repoBlobUrl\":\"http://127.0.0.1:5000/v2/hello/blobs\"")
          .contains(PrepareLabelsTest.DIGEST)
          .contains("642560");
    }
  }

  @Test
  void aViewIsNoRemoteLayerWhateverItsLabelsSay() {
    Map<String, String> labels = PrepareLabelsTest.remoteLabels();
    labels.put(Labels.BLOB_DIGEST, "not a digest");
    snapshotter.view("v", "", labels);
    assertThat(snapshotter.stat("v").kind()).isEqualTo(Kind.VIEW);
    assertThat(snapshotter.stat("v").labels()).isEqualTo(labels);
  }

  @Test
  void aContainerOnAnOrdinaryLayerStaysOnOverlayfsAndLosesTheWritableLabel() {
    snapshotter.prepare("default/1/extract-1 " + CHAIN, "", Map.of());
    snapshotter.commit(CHAIN, "default/1/extract-1 " + CHAIN, Map.of(), "");
    snapshotter.prepare("c", CHAIN, Map.of(Labels.WRITABLE, "dir", "app", "x"));
    assertThat(snapshotter.stat("c").labels()).isEqualTo(Map.of("app", "x"));
  }

  @Test
  void badLabelsAreRefusedBeforeAnythingIsRecorded() {
    Map<String, String> badSize = PrepareLabelsTest.remoteLabels();
    badSize.put(Labels.BLOB_SIZE, "big");
    assertThatThrownBy(() -> snapshotter.prepare("default/1/extract-1 " + CHAIN, "", badSize))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(Labels.BLOB_SIZE);
    assertThatThrownBy(() -> snapshotter.prepare("c", "", Map.of(Labels.BLOB_FS_TYPE, "ext4;suid")))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining(Labels.BLOB_FS_TYPE);
    assertThatThrownBy(() -> snapshotter.stat(CHAIN)).isInstanceOf(NotFoundException.class);
    assertThatThrownBy(() -> snapshotter.stat("c")).isInstanceOf(NotFoundException.class);
  }
}
