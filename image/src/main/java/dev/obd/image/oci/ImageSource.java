package dev.obd.image.oci;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/**
 * Where a conversion reads an image from: an OCI layout on disk or a registry repository. Every
 * byte handed out has been checked against its descriptor's size and digest.
 */
public interface ImageSource {
  /** The reference as the user wrote it, for messages. */
  String name();

  /** The manifest or index the reference names, with its bytes. */
  Document root() throws IOException;

  /** A JSON document (manifest, index, config) of at most 16 MiB, verified. */
  byte[] read(Descriptor d) throws IOException;

  /**
   * A local file holding blob {@code d}, verified. A blob that had to be downloaded is placed in
   * {@code scratch}, and closing the answer deletes it; a blob already on disk is used in place.
   */
  LocalBlob fetch(Descriptor d, Path scratch) throws IOException;

  /**
   * As {@link #fetch(Descriptor, Path)}, telling {@code received} how many bytes have arrived so
   * far while a download goes on (from the thread that downloads).
   */
  default LocalBlob fetch(Descriptor d, Path scratch, LongConsumer received) throws IOException {
    return fetch(d, scratch);
  }

  /** A manifest or index and its exact bytes (which its digest is computed over). */
  record Document(Descriptor descriptor, byte[] bytes) {}

  /** A blob as a local file; {@link #close} removes it when it was a temporary download. */
  record LocalBlob(Path path, boolean temporary) implements AutoCloseable {
    @Override
    public void close() throws IOException {
      if (temporary) {
        java.nio.file.Files.deleteIfExists(path);
      }
    }
  }
}
