package dev.obd.backstore.device;

/**
 * The registry (and its mirrors) did not answer a blob check by the read deadline, or answered with
 * a status that may pass (5xx): nothing is known about the blob yet.
 */
public final class BlobUnreachableException extends DeviceException {
  private static final long serialVersionUID = 1L;

  BlobUnreachableException(String message, Throwable cause) {
    super(message, cause);
  }
}
