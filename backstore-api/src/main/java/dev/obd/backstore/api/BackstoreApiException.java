package dev.obd.backstore.api;

import java.io.IOException;

/**
 * A control API call the daemon refused or could not complete. {@link #status()} is the HTTP
 * status: 400 invalid argument, 404 not found, 409 failed precondition (device in use), 500 the
 * attach failed, 503 the daemon is unreachable.
 */
public final class BackstoreApiException extends IOException {
  private final int status;

  public BackstoreApiException(int status, String message) {
    super(message);
    this.status = status;
  }

  public BackstoreApiException(int status, String message, Throwable cause) {
    super(message, cause);
    this.status = status;
  }

  public int status() {
    return status;
  }
}
