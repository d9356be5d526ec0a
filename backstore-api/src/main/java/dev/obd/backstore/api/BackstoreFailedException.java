package dev.obd.backstore.api;

/**
 * The daemon took the call but it failed there (HTTP 500, e.g. the attach failed: the message says
 * why), or its answer could not be read.
 */
public final class BackstoreFailedException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  BackstoreFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
