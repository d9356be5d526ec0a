package dev.obd.snapshotter.errdefs;

/** The object named in the request does not exist. */
public final class NotFoundException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public NotFoundException(String message) {
    this(message, null);
  }

  public NotFoundException(String message, Throwable cause) {
    super(message, "not found", cause);
  }
}
