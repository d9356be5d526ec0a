package dev.obd.backstore.device;

import java.io.IOException;

/**
 * Why {@link DeviceManager} refused or could not complete an operation on a device, or {@link
 * BlobAccessCheck} found a layer's blob unreadable, one subclass per answer its callers tell apart.
 * The control server turns each into its HTTP status in one place; the core knows nothing of HTTP.
 * Messages say what was attempted and why, and are shown to the client as they are.
 */
public abstract sealed class DeviceException extends IOException
    permits NoSuchDeviceException,
        BadDeviceConfigException,
        DeviceBusyException,
        DeviceFailedException,
        BlobDeniedException,
        NoSuchBlobException,
        BlobUnreachableException {
  private static final long serialVersionUID = 1L;

  DeviceException(String message, Throwable cause) {
    super(message, cause);
  }
}
