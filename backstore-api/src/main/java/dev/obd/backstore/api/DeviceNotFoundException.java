package dev.obd.backstore.api;

/** No device matches the key the call named (HTTP 404): it was never added, or is removed. */
public final class DeviceNotFoundException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  DeviceNotFoundException(String message) {
    super(message, null);
  }
}
