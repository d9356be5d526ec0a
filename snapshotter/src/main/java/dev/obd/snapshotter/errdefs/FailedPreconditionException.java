package dev.obd.snapshotter.errdefs;

/**
 * The request is valid but the state of the objects does not allow it now (for example removing a
 * snapshot that still has children).
 */
public final class FailedPreconditionException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public FailedPreconditionException(String message) {
    this(message, null);
  }

  public FailedPreconditionException(String message, Throwable cause) {
    super(message, "failed precondition", cause);
  }
}
