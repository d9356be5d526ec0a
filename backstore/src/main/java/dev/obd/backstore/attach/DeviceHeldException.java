package dev.obd.backstore.attach;

/** A detach refused because something still holds the block device (a mount, an open file). */
public final class DeviceHeldException extends AttachException {
  public DeviceHeldException(String device) {
    super("detach " + device + ": the device is in use (mounted?)");
  }
}
