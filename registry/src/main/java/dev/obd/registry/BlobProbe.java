package dev.obd.registry;

import java.io.IOException;

/**
 * Whether a registry blob can be read now, with the credentials, mirrors and redirects a read would
 * use: one HEAD request through {@link RegistryClient#headSize}, past every cache, so the answer is
 * the registry's and not a copy's, and no byte of the blob moves (a lazy pull stays one without
 * blob GETs). Used to refuse a lazy layer at pull time instead of failing its first block read.
 * Thread-safe.
 */
public final class BlobProbe {
  private final RegistryClient client;

  public BlobProbe(RegistryClient client) {
    this.client = client;
  }

  /**
   * Asks the registry for {@code blob} and compares the size it reports, if it does, with {@code
   * size}.
   *
   * @throws RegistryDeniedException when the registry refuses the credentials (or has none)
   * @throws BlobNotFoundException when it has no such blob, or one of another size
   * @throws RegistryUnavailableException when it stays unreachable past the read deadline
   */
  public void check(BlobUrl blob, long size) throws IOException {
    long total = client.headSize(blob);
    if (total >= 0 && total != size) {
      throw new BlobNotFoundException(
          "read the size of "
              + blob.describe()
              + ": registry has "
              + total
              + " bytes, the layer names "
              + size);
    }
  }
}
