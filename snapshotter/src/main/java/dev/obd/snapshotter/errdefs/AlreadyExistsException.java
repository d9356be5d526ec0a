package dev.obd.snapshotter.errdefs;

/** The object the request would create already exists. */
public final class AlreadyExistsException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public AlreadyExistsException(String message) {
    this(message, null);
  }

  public AlreadyExistsException(String message, Throwable cause) {
    super(message, "already exists", cause);
  }
}
