package dev.obd.snapshotter.overlaybd;

import dev.obd.image.oci.Digest;
import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.Map;
import java.util.Optional;

/**
 * What the labels of a layer's Prepare say about an OverlayBD layer in the registry, validated: the
 * chain id to commit under, the blob's digest and size, and the image it comes from. A Prepare is a
 * remote-layer Prepare exactly when upstream would take it for one: it has {@link
 * Labels#SNAPSHOT_REF}, both blob labels and an image reference.
 */
public record RemoteLayer(String snapshotRef, String blobDigest, long blobSize, ImageRef image) {
  /**
   * The remote layer these labels describe, or empty when they do not describe one.
   *
   * @throws InvalidArgumentException when they describe one with malformed values
   */
  public static Optional<RemoteLayer> from(Map<String, String> labels) {
    String ref = labels.get(Labels.SNAPSHOT_REF);
    String digest = labels.get(Labels.BLOB_DIGEST);
    String size = labels.get(Labels.BLOB_SIZE);
    String imageLabel =
        labels.containsKey(Labels.IMAGE_REF) ? Labels.IMAGE_REF : Labels.CRI_IMAGE_REF;
    String image = labels.get(imageLabel);
    if (ref == null || digest == null || size == null || image == null) {
      return Optional.empty();
    }
    if (ref.isEmpty()) {
      throw new InvalidArgumentException("label " + Labels.SNAPSHOT_REF + " is empty");
    }
    if (!Digest.isValid(digest)) {
      throw new InvalidArgumentException(
          "label "
              + Labels.BLOB_DIGEST
              + ": \""
              + Excerpt.of(digest)
              + "\" is not a sha256 digest");
    }
    long bytes;
    try {
      bytes = Long.parseLong(size);
    } catch (NumberFormatException e) {
      bytes = -1;
    }
    if (bytes < 0 || !size.matches("[0-9]+")) {
      throw new InvalidArgumentException(
          "label " + Labels.BLOB_SIZE + ": \"" + Excerpt.of(size) + "\" is not a size in bytes");
    }
    return Optional.of(new RemoteLayer(ref, digest, bytes, ImageRef.parse(imageLabel, image)));
  }
}
