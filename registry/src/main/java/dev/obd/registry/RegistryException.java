package dev.obd.registry;

import java.io.IOException;

/**
 * A registry read that failed, one subclass per answer a caller treats differently: {@link
 * BlobNotFoundException} and {@link RegistryDeniedException} are final answers (not retried), a
 * {@link RegistryUnavailableException} was retried until the read deadline. Messages say what was
 * being attempted and what the registry answered, never a credential.
 *
 * <p>An HTTP answer that is not the blob becomes one of them in one place, {@link #answered}; the
 * failures without an answer (no connection, no answer in time, a body that does not match the
 * request) are unavailable by nature and made where they happen.
 */
public abstract sealed class RegistryException extends IOException
    permits BlobNotFoundException, RegistryDeniedException, RegistryUnavailableException {
  private static final long serialVersionUID = 1L;

  RegistryException(String message, Throwable cause) {
    super(message, cause);
  }

  /** Which endpoint answered: the status codes mean different things on each. */
  enum Endpoint {
    /** The blob URL (a mirror, the registry or a redirect target): 404 means no such blob. */
    BLOB,
    /** The token server of a Bearer challenge: only 401 and 403 are refusals. */
    TOKEN
  }

  /**
   * The failure an HTTP answer with {@code status} means: "{@code what}: {@code who} answered
   * {@code status} ({@code why})". 401 and 403 are refusals; 404 from a blob endpoint is a missing
   * blob; anything else (5xx, an unexpected 4xx) may pass and is retried.
   *
   * @param who the answering side as the message names it: "registry", "token server", a host
   * @param why what the status means here, or "" to say nothing more
   */
  static RegistryException answered(
      Endpoint endpoint, String what, String who, int status, String why) {
    String message =
        what + ": " + who + " answered " + status + (why.isEmpty() ? "" : " (" + why + ")");
    if (status == 401 || status == 403) {
      return new RegistryDeniedException(message);
    }
    if (status == 404 && endpoint == Endpoint.BLOB) {
      return new BlobNotFoundException(message);
    }
    return new RegistryUnavailableException(message, null);
  }
}
