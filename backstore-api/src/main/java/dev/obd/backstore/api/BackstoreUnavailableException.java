package dev.obd.backstore.api;

/**
 * No daemon answered: the socket is missing or refuses connections, no answer came by the call's
 * deadline, or the wait was interrupted. Nothing is known about the call's effect.
 */
public final class BackstoreUnavailableException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  BackstoreUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
