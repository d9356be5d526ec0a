package dev.obd.snapshotter.errdefs;

/**
 * A resource the operation depends on (a device, a backstore, the disk) cannot be used right now;
 * retrying later may succeed.
 */
public final class UnavailableException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public UnavailableException(String message) {
    this(message, null);
  }

  public UnavailableException(String message, Throwable cause) {
    super(message, "unavailable", cause);
  }
}
