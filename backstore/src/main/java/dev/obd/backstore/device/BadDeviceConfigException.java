package dev.obd.backstore.device;

/**
 * The config.v1.json a device is to be added with cannot be read or is not a valid config: the
 * request is wrong, not the daemon, and repeating it gives the same answer.
 */
public final class BadDeviceConfigException extends DeviceException {
  private static final long serialVersionUID = 1L;

  BadDeviceConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
