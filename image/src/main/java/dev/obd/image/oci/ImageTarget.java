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

  /** Whether the target already has blob {@code d}, so that it need not be stored again. */
  boolean has(Descriptor d) throws IOException;

  /** Stores blob {@code d} from {@code file}, which stays where it is. */
  void putBlob(Descriptor d, Path file) throws IOException;

  /** Stores a small blob (a config). */
  void putBlob(Descriptor d, byte[] bytes) throws IOException;

  /** Stores a manifest or index without pointing the reference at it. */
  void putManifest(Descriptor d, byte[] bytes) throws IOException;

  /** Points the target reference at a manifest or index stored before: the last step. */
  void tag(Descriptor d, byte[] bytes) throws IOException;
}
