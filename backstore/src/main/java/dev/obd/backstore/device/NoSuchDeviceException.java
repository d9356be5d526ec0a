package dev.obd.backstore.device;

/** No device matches the key (id, block device path or config path) of a request. */
public final class NoSuchDeviceException extends DeviceException {
  private static final long serialVersionUID = 1L;

  NoSuchDeviceException(String message) {
    super(message, null);
  }
}
