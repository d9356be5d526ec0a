package dev.obd.backstore.device;

/**
 * Adding or removing a device failed on the way: opening its layers (a registry refusal, a corrupt
 * layer, the attach deadline), serving or attaching it, detaching it. The message carries the
 * reason from the failing step; the manager has logged it already.
 */
public final class DeviceFailedException extends DeviceException {
  private static final long serialVersionUID = 1L;

  DeviceFailedException(String message, Throwable cause) {
    super(message, cause);
  }
}
