package dev.obd.registry;

import java.io.IOException;

/**
 * Whether a registry blob can be read now, with the credentials, mirrors and redirects a read would
 * use: one ranged GET of the blob's first byte through {@link RegistryClient}, past every cache, so
 * the answer is the registry's and not a copy's. Used to refuse a lazy layer at pull time instead
 * of failing its first block read. Thread-safe.
 */
public final class BlobProbe {
  private final RegistryClient client;

  public BlobProbe(RegistryClient client) {
    this.client = client;
  }

  /**
   * Reads the first byte of {@code blob} and compares the size the registry reports with {@code
   * size}.
   *
   * @throws RegistryDeniedException when the registry refuses the credentials (or has none)
   * @throws BlobNotFoundException when it has no such blob, or one of another size
   * @throws RegistryUnavailableException when it stays unreachable past the read deadline
   */
  public void check(BlobUrl blob, long size) throws IOException {
    long total = client.size(blob);
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
