package dev.obd.registry;

import java.io.IOException;

/**
 * A registry read that failed. {@link #permanent()} failures (bad credentials, missing blob) are
 * not retried; the others were retried until the read deadline. Messages name the blob and what the
 * registry answered, never a credential.
 */
public final class RegistryException extends IOException {
  private final boolean permanent;
  private final int status;

  RegistryException(String message, boolean permanent, int status, Throwable cause) {
    super(message, cause);
    this.permanent = permanent;
    this.status = status;
  }

  public boolean permanent() {
    return permanent;
  }

  /** The HTTP status of the last answer, or 0 when there was none (connection failed). */
  public int status() {
    return status;
  }
}
