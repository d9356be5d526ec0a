package dev.obd.snapshotter.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.config.SnapshotterConfig.RemoteAccessCheck;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.device.NbdAttacher;
import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import dev.obd.testsupport.CannedHttpServer;
import dev.obd.testsupport.Requirements;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Prepare of a lazy OverlayBD layer with the nbd attacher asks obd-backstore (here a canned
 * control API) whether it can read the layer's blob, and acts as {@code remoteAccessCheck} says: a
 * refusal fails the pull ({@code fail}) or lets containerd download the layer ({@code download});
 * {@code off} asks nothing; a backstore that does not answer never fails a pull. No root, no
 * devices.
 */
class LazyLayerCheckTest {
  private static final String CHAIN = PrepareLabelsTest.CHAIN;
  private static final String KEY = "default/1/extract-1 " + CHAIN;
  private static final String CHECK = "POST /v1/blobs/check HTTP/1.1";
  private static final String DENIED =
      "{\"error\":\"read the size of blob sha256:022231c3f1af… of 127.0.0.1:5000/hello: registry"
          + " answered 401 (authentication failed for user 'alice')\"}";

  /** Held here: a logger nobody references may be collected, and with it the test's handler. */
  private static final Logger CHECK_LOG = Logger.getLogger(LazyLayerCheck.class.getName());

  @TempDir Path root;
  private OverlaySnapshotter snapshotter;
  private CannedHttpServer backstore;

  private OverlaySnapshotter open(RemoteAccessCheck mode) throws Exception {
    Path socket = root.resolve("backstore.sock");
    snapshotter =
        OverlaySnapshotter.open(
            root.resolve("root"),
            false,
            List.of(),
            new OverlaySnapshotter.BlockSupport(
                snapshotsDir -> new NbdAttacher(socket, snapshotsDir),
                "ext4",
                root.resolve("traces"),
                List.of(new MirrorRegistry("127.0.0.1:5000", true)),
                false,
                RwMode.OVERLAYFS,
                mode,
                false));
    return snapshotter;
  }

  private CannedHttpServer backstore(int status, String json) throws Exception {
    backstore = CannedHttpServer.start(root.resolve("backstore.sock"), status, json);
    return backstore;
  }

  /** The blob checks the backstore received (the reconciler's list calls left out). */
  private long checks() {
    return backstore.requests().stream().filter(CHECK::equals).count();
  }

  @AfterEach
  void close() throws Exception {
    if (snapshotter != null) {
      snapshotter.close();
    }
    if (backstore != null) {
      backstore.close();
    }
  }

  @Test
  void aRefusedBlobFailsThePrepareWithTheRegistrysAnswerAndRecordsNothing() throws Exception {
    backstore(403, DENIED);
    open(RemoteAccessCheck.FAIL);
    assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("lazy OverlayBD layer blob " + PrepareLabelsTest.DIGEST)
        .hasMessageContaining("access denied")
        .hasMessageContaining("registry answered 401 (authentication failed for user 'alice')")
        .hasMessageContaining("remoteAccessCheck");
    assertThatThrownBy(() -> snapshotter.stat(CHAIN)).isInstanceOf(NotFoundException.class);
    assertThatThrownBy(() -> snapshotter.stat(KEY)).isInstanceOf(NotFoundException.class);

    backstore.answer(404, "{\"error\":\"registry answered 404 (no such blob)\"}");
    assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
        .isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("blob not found")
        .hasMessageContaining("registry answered 404 (no such blob)");
    assertThat(checks()).isEqualTo(2);
  }

  @Test
  void aReadableBlobIsAnsweredAlreadyExistsAndCheckedOnceForAllItsLayers() throws Exception {
    backstore(200, "{\"readable\":true}");
    open(RemoteAccessCheck.FAIL);
    assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
        .isInstanceOf(AlreadyExistsException.class);
    assertThat(snapshotter.stat(CHAIN).labels()).containsEntry(Labels.REMOTE, Labels.REMOTE_VALUE);
    // the same blob in another chain (another image's stack): no second request
    Map<String, String> other = PrepareLabelsTest.remoteLabels();
    String chain2 = "sha256:" + "1".repeat(64);
    other.put(Labels.SNAPSHOT_REF, chain2);
    assertThatThrownBy(() -> snapshotter.prepare("default/2/extract-2 " + chain2, CHAIN, other))
        .isInstanceOf(AlreadyExistsException.class);
    assertThat(snapshotter.stat(chain2).kind()).isEqualTo(Kind.COMMITTED);
    assertThat(checks()).isEqualTo(1);
  }

  @Test
  void aBackstoreThatDoesNotAnswerLeavesTheLayerLazyWithOneWarning() throws Exception {
    List<String> warnings = new ArrayList<>();
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            if (r.getLevel() == Level.WARNING && r.getMessage().contains("could not check")) {
              synchronized (warnings) {
                warnings.add(r.getMessage());
              }
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    CHECK_LOG.addHandler(capture);
    try {
      // a backstore that cannot reach the registry
      backstore(503, "{\"error\":\"gave up after 60000 ms: cannot connect\"}");
      open(RemoteAccessCheck.FAIL);
      assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
          .isInstanceOf(AlreadyExistsException.class);
      assertThat(checks()).isEqualTo(1);
      // the repository's other blobs (here the same one again) wait for no answer for a while
      snapshotter.remove(CHAIN);
      assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
          .isInstanceOf(AlreadyExistsException.class);
      assertThat(checks()).isEqualTo(1);
      // no backstore on the socket at all, for an image of another repository
      backstore.close();
      Map<String, String> other = PrepareLabelsTest.remoteLabels();
      String chain2 = "sha256:" + "2".repeat(64);
      other.put(Labels.SNAPSHOT_REF, chain2);
      other.put(Labels.CRI_IMAGE_REF, "127.0.0.1:5000/other:1");
      assertThatThrownBy(() -> snapshotter.prepare("default/3/extract-3 " + chain2, "", other))
          .isInstanceOf(AlreadyExistsException.class);
      assertThat(snapshotter.stat(chain2).labels())
          .containsEntry(Labels.REMOTE, Labels.REMOTE_VALUE);
    } finally {
      CHECK_LOG.removeHandler(capture);
    }
    synchronized (warnings) {
      assertThat(warnings).as("one warning per blob").hasSize(2);
      assertThat(warnings.get(0))
          .contains(PrepareLabelsTest.DIGEST + " of 127.0.0.1:5000/hello")
          .contains("gave up after 60000 ms");
      assertThat(warnings.get(1)).contains("/other").contains("obd-backstore unreachable");
    }
  }

  @Test
  void inDownloadModeARefusedLayerIsPreparedForUnpackingAndCommittedAsALocalBlockLayer()
      throws Exception {
    backstore(403, DENIED);
    open(RemoteAccessCheck.DOWNLOAD);
    List<Mount> mounts = snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels());
    assertThat(snapshotter.stat(KEY).kind()).isEqualTo(Kind.ACTIVE);
    assertThatThrownBy(() -> snapshotter.stat(CHAIN)).isInstanceOf(NotFoundException.class);
    assertThat(mounts).hasSize(1);
    assertThat(checks()).isEqualTo(1);

    // containerd downloads the layer blob and unpacks it: one file, overlaybd.commit
    Path blob =
        Requirements.requireSharedTestData("hello-world-obd")
            .resolve("blobs/sha256/" + PrepareLabelsTest.DIGEST.substring("sha256:".length()));
    Process tar =
        new ProcessBuilder("tar", "-xf", blob.toString(), "-C", mounts.get(0).source())
            .inheritIO()
            .start();
    assertThat(tar.waitFor()).isZero();
    snapshotter.commit(CHAIN, KEY, PrepareLabelsTest.remoteLabels(), "");
    assertThat(snapshotter.stat(CHAIN).labels())
        .containsKey(Labels.LOCAL_COMMIT_PATH)
        .doesNotContainKey(Labels.REMOTE);
  }

  @Test
  void offAsksNothing() throws Exception {
    backstore(403, DENIED);
    open(RemoteAccessCheck.OFF);
    assertThatThrownBy(() -> snapshotter.prepare(KEY, "", PrepareLabelsTest.remoteLabels()))
        .isInstanceOf(AlreadyExistsException.class);
    assertThat(checks()).isZero();
  }
}
