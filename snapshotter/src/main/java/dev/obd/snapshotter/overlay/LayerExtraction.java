package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Recognises the active snapshots containerd prepares to unpack an image layer into, as opposed to
 * a container's root filesystem, however each containerd version and pull path marks them:
 *
 * <ul>
 *   <li>the key containerd's unpackers and {@code ctr images import} give them, {@code
 *       extract-<unique> <chain id>} ({@code snapshots.UnpackKeyFormat}), behind the {@code
 *       <namespace>/<n>/} prefix of containerd's metadata store. containerd 1.6's {@code ctr images
 *       pull} sends nothing else (no labels at all);
 *   <li>the {@code containerd.io/snapshot.ref} label, which the unpackers of CRI, containerd 1.7+
 *       and the transfer service set to the chain id;
 *   <li>the {@code containerd.io/snapshot/type=image} label.
 * </ul>
 *
 * Such a snapshot gets neither a writable OverlayBD device nor the image's read-only device: what
 * containerd writes into it is the layer's tar, which for an OverlayBD layer holds only the layer
 * file, so the content below is not needed. containerd applies a layer straight into the upper
 * directory of the overlay mount it is given, reading the lower directories only for the attributes
 * of parent directories that the tar omits (image builders include them).
 *
 * <p>Only containerd chooses keys; an image's author can set neither the key nor the {@code
 * snapshot.ref} label, and could at most make a layer's own unpack look like one, which it is.
 */
final class LayerExtraction {
  /** {@code extract-%s %s} with a sha256 chain id, optionally behind {@code <namespace>/<n>/}. */
  private static final Pattern UNPACK_KEY =
      Pattern.compile("^(?:[^/]+/[0-9]+/)?extract-\\S+ sha256:[0-9a-f]{64}$");

  private LayerExtraction() {}

  /** Whether an active snapshot with {@code key} and {@code labels} is a layer being unpacked. */
  static boolean recognises(Kind kind, String key, Map<String, String> labels) {
    return kind == Kind.ACTIVE
        && (labels.containsKey(Labels.SNAPSHOT_REF)
            || "image".equals(labels.get(Labels.SNAPSHOT_TYPE))
            || UNPACK_KEY.matcher(key).matches());
  }

  /** Whether the recorded snapshot {@code r} is a layer being unpacked. */
  static boolean recognises(SnapshotRecord r) {
    return recognises(r.kind(), r.key(), r.labels());
  }
}
