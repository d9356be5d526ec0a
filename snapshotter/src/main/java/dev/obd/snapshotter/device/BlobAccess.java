package dev.obd.snapshotter.device;

import java.util.Objects;

/**
 * What an attacher's data plane answered when asked whether it can read a remote layer's blob (see
 * {@link DeviceAttacher#checkBlob}).
 *
 * @param outcome the kind of answer
 * @param reason the data plane's words: the registry's answer for a refusal or a missing blob, why
 *     nothing is known, or why nothing was asked; empty when the blob is readable
 */
public record BlobAccess(Outcome outcome, String reason) {

  /** The answers a caller treats differently. */
  public enum Outcome {
    /** The data plane read the blob from the registry with its credentials. */
    READABLE,
    /** The registry refused the data plane's credentials, or it has none for the repository. */
    DENIED,
    /** The registry has no such blob (of that size). */
    NOT_FOUND,
    /** No answer: the data plane or the registry could not be reached, or failed otherwise. */
    UNKNOWN,
    /** This attacher's data plane cannot be asked (it reads blobs outside our control). */
    NOT_CHECKED
  }

  public BlobAccess {
    Objects.requireNonNull(outcome, "outcome");
    Objects.requireNonNull(reason, "reason");
  }

  public static BlobAccess readable() {
    return new BlobAccess(Outcome.READABLE, "");
  }

  /** Whether the answer says every read of the blob would fail (denied or not found). */
  public boolean refused() {
    return outcome == Outcome.DENIED || outcome == Outcome.NOT_FOUND;
  }
}
