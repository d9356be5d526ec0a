package dev.obd.snapshotter.errdefs;

/**
 * The operation ran out of a resource the host limits (disk space, inodes, a quota); retrying after
 * an operator freed some may succeed.
 */
public final class ResourceExhaustedException extends SnapshotterException {
  private static final long serialVersionUID = 1L;

  public ResourceExhaustedException(String message, Throwable cause) {
    super(message, "resource exhausted", cause);
  }
}
