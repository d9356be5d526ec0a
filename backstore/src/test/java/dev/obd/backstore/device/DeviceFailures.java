package dev.obd.backstore.device;

/**
 * Makes the device core's exceptions for tests of other packages (their constructors are not
 * public).
 */
public final class DeviceFailures {
  private DeviceFailures() {}

  public static DeviceException badConfig(String message) {
    return new BadDeviceConfigException(message, null);
  }

  public static DeviceException noSuchDevice(String message) {
    return new NoSuchDeviceException(message);
  }

  public static DeviceException busy(String message) {
    return new DeviceBusyException(message, null);
  }

  public static DeviceException failed(String message) {
    return new DeviceFailedException(message, null);
  }

  public static DeviceException blobDenied(String message) {
    return new BlobDeniedException(message, null);
  }

  public static DeviceException noSuchBlob(String message) {
    return new NoSuchBlobException(message, null);
  }

  public static DeviceException blobUnreachable(String message) {
    return new BlobUnreachableException(message, null);
  }
}
