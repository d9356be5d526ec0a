package dev.obd.backstore.device;

/** The registry has no such blob (404), or one of another size than the layer names. */
public final class NoSuchBlobException extends DeviceException {
  private static final long serialVersionUID = 1L;

  NoSuchBlobException(String message, Throwable cause) {
    super(message, cause);
  }
}
