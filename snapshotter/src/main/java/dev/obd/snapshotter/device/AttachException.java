package dev.obd.snapshotter.device;

/** Attaching or detaching a block device failed; the message says what and why. */
public final class AttachException extends Exception {
  private static final long serialVersionUID = 1L;

  public AttachException(String message) {
    super(message);
  }

  public AttachException(String message, Throwable cause) {
    super(message, cause);
  }
}
