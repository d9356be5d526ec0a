package dev.obd.snapshotter.storage;

import java.time.Instant;
import java.util.Objects;

/**
 * A block device whose detach failed (typically because its filesystem was still mounted in another
 * mount namespace). It is retried, with a backoff and at every start, until the detach succeeds or
 * the attacher no longer knows the device; persisted so that neither a restart nor a later removal
 * forgets it.
 *
 * @param id the snapshot id the device was attached for (ids are never reused)
 * @param config the config.v1.json path it was attached with, by which the nbd attacher names it
 * @param device the device as last recorded, e.g. {@code /dev/nbd3}
 * @param since when its first detach failed
 * @param attempts how many detaches failed so far
 * @param lastError why the last one failed
 */
public record PendingDetach(
    long id, String config, String device, Instant since, int attempts, String lastError) {
  public PendingDetach {
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(since, "since");
    Objects.requireNonNull(lastError, "lastError");
  }

  /** This entry after one more failed attempt. */
  public PendingDetach failedAgain(String error) {
    return new PendingDetach(id, config, device, since, attempts + 1, error);
  }
}
