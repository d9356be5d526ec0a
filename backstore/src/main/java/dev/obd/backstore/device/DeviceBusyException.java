package dev.obd.backstore.device;

/** The device cannot be removed now: the kernel reports it in use (mounted, held open). */
public final class DeviceBusyException extends DeviceException {
  private static final long serialVersionUID = 1L;

  DeviceBusyException(String message, Throwable cause) {
    super(message, cause);
  }
}
