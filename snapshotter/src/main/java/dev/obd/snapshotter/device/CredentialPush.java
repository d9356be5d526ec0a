package dev.obd.snapshotter.device;

import dev.obd.snapshotter.errdefs.UnavailableException;
import java.time.Duration;

/**
 * Hands pull credentials to the data plane that reads blobs (obd-backstore), which keeps them in
 * memory only, and tells which run of it answers so that a restarted one (which lost them) is given
 * them again. Thread-safe.
 */
public interface CredentialPush {
  /**
   * Hands {@code credential} over; the data plane asks it first for blobs of its repository.
   *
   * @throws UnavailableException when the data plane does not take it; the message never holds the
   *     secret
   */
  void push(PullCredential credential, Duration deadline);

  /**
   * Which run of the data plane answers: a different value than before means it restarted.
   *
   * @throws UnavailableException when it does not answer
   */
  String instance(Duration deadline);
}
