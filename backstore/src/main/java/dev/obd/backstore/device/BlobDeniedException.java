package dev.obd.backstore.device;

/**
 * The registry refuses the backstore's credentials for a blob (401 or 403 after authenticating, or
 * no credentials for it): every read of it would fail. The message is the registry's answer; it
 * names the user, never a secret.
 */
public final class BlobDeniedException extends DeviceException {
  private static final long serialVersionUID = 1L;

  BlobDeniedException(String message, Throwable cause) {
    super(message, cause);
  }
}
