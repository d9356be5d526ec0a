package dev.obd.snapshotter.errdefs;

/** The request itself is malformed or names an object of the wrong kind. */
public final class InvalidArgumentException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public InvalidArgumentException(String message) {
    this(message, null);
  }

  public InvalidArgumentException(String message, Throwable cause) {
    super(message, "invalid argument", cause);
  }
}
