package dev.obd.backstore.api;

/** The daemon refused the request as malformed, or its config.v1.json as unreadable (HTTP 400). */
public final class InvalidRequestException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  InvalidRequestException(String message, Throwable cause) {
    super(message, cause);
  }
}
