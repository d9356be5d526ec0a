package dev.obd.backstore.device;

import dev.obd.registry.BlobNotFoundException;
import dev.obd.registry.BlobProbe;
import dev.obd.registry.BlobUrl;
import dev.obd.registry.RegistryClient;
import dev.obd.registry.RegistryDeniedException;
import java.io.IOException;

/**
 * Checks that a remote layer's blob can be read with the credentials the backstore has, the way a
 * read of the device would reach it (mirrors first, auth from the registry's challenge), so that
 * the snapshotter can fail a pull instead of a container's first read. The registry's typed
 * failures become the device core's here, once. Thread-safe.
 */
public final class BlobAccessCheck {
  private final BlobProbe probe;

  public BlobAccessCheck(RegistryClient registry) {
    this.probe = new BlobProbe(registry);
  }

  /**
   * Reads a byte of blob {@code digest} of {@code size} bytes under {@code repoBlobUrl} (the values
   * of a config.v1.json's {@code repoBlobUrl} and lower).
   *
   * @throws BlobDeniedException when the registry refuses access
   * @throws NoSuchBlobException when it has no such blob (of that size)
   * @throws BlobUnreachableException when it did not answer in time, or the wait was interrupted
   * @throws IllegalArgumentException when the URL or digest is malformed (check them first)
   */
  public void check(String repoBlobUrl, String digest, long size) throws DeviceException {
    BlobUrl blob = BlobUrl.of(repoBlobUrl, digest);
    String what = "check " + blob.describe();
    try {
      probe.check(blob, size);
    } catch (RegistryDeniedException e) {
      throw new BlobDeniedException(e.getMessage(), e);
    } catch (BlobNotFoundException e) {
      throw new NoSuchBlobException(e.getMessage(), e);
    } catch (IOException e) {
      // RegistryUnavailableException, or an interrupted wait: nothing is known about the blob
      throw new BlobUnreachableException(
          e.getMessage() == null ? what + ": " + e : e.getMessage(), e);
    }
  }
}
