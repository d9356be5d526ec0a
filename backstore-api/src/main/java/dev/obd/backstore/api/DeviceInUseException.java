package dev.obd.backstore.api;

/** The device cannot be removed while it is in use, e.g. mounted (HTTP 409). */
public final class DeviceInUseException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  DeviceInUseException(String message) {
    super(message, null);
  }
}
