package dev.obd.image.oci;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a conversion writes an image: an OCI layout on disk or a registry repository. Blobs and
 * manifests are stored first, untagged; {@link #tag} comes last, so an interrupted conversion
 * leaves no reference pointing at a half-written image.
 */
public interface ImageTarget {
  /** The reference as the user wrote it, for messages. */
  String name();

  /**
   * Checks before any work that the target can be written (the directory, or the registry's
   * credentials and push access), failing with a message that says what to fix.
   */
  void checkWritable() throws IOException;

  /**
   * Where blobs stored here can be found again by a later conversion: {@code host/repository} for a
   * registry, {@code oci:DIR} for a layout.
   */
  String location();

  /** Whether the target already has blob {@code d}, so that it need not be stored again. */
  boolean has(Descriptor d) throws IOException;

  /**
   * Makes blob {@code d}, stored before at {@code location} (of another repository or layout), part
   * of this target without sending its bytes: the distribution API's cross-repository mount, a hard
   * link between layouts. Returns false when it cannot (another registry, no access, the blob is
   * gone there).
   */
  default boolean mount(Descriptor d, String location) throws IOException {
    return false;
  }

  /**
   * A local file holding blob {@code d} as the target stores it, verified: a layer stored here by
   * an earlier conversion, needed under the layers above it. As {@link ImageSource#fetch}.
   */
  ImageSource.LocalBlob fetch(Descriptor d, Path scratch) throws IOException;

  /** Stores blob {@code d} from {@code file}, which stays where it is. */
  void putBlob(Descriptor d, Path file) throws IOException;

  /** Stores a small blob (a config). */
  void putBlob(Descriptor d, byte[] bytes) throws IOException;

  /** Stores a manifest or index without pointing the reference at it. */
  void putManifest(Descriptor d, byte[] bytes) throws IOException;

  /** Points the target reference at a manifest or index stored before: the last step. */
  void tag(Descriptor d, byte[] bytes) throws IOException;
}
