package dev.obd.snapshotter.api;

import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.DiskFull;
import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.errdefs.ResourceExhaustedException;
import dev.obd.snapshotter.errdefs.SnapshotterException;
import dev.obd.snapshotter.errdefs.UnavailableException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * The one place where failures become gRPC statuses, with the codes containerd's errdefs use: each
 * {@link dev.obd.snapshotter.errdefs.SnapshotterException} kind maps to its code; a failure caused
 * by a full disk, wherever it surfaced (SQLite, a directory or file write), is RESOURCE_EXHAUSTED;
 * anything else is UNKNOWN, as containerd reports errors it cannot classify. The description is the
 * exception's message, which containerd shows the user, bounded to {@link #MAX_DESCRIPTION_CHARS}.
 */
final class ErrorMapping {
  /**
   * Longest status description. grpc-java clients refuse trailers beyond 8 KiB (and then report
   * INTERNAL instead of our code); the description travels percent-encoded, up to 6 bytes per
   * character of non-ASCII text, so 1,000 characters always fit beside the other trailers.
   */
  static final int MAX_DESCRIPTION_CHARS = 1000;

  private ErrorMapping() {}

  static StatusRuntimeException toStatus(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s;
    }
    Throwable classified = t;
    if (!(t instanceof SnapshotterException) && DiskFull.causes(t)) {
      classified = new ResourceExhaustedException(describe(t), t);
    }
    Status status = Status.UNKNOWN;
    if (classified instanceof NotFoundException) {
      status = Status.NOT_FOUND;
    } else if (classified instanceof AlreadyExistsException) {
      status = Status.ALREADY_EXISTS;
    } else if (classified instanceof InvalidArgumentException) {
      status = Status.INVALID_ARGUMENT;
    } else if (classified instanceof FailedPreconditionException) {
      status = Status.FAILED_PRECONDITION;
    } else if (classified instanceof UnavailableException) {
      status = Status.UNAVAILABLE;
    } else if (classified instanceof ResourceExhaustedException) {
      status = Status.RESOURCE_EXHAUSTED;
    }
    return status
        .withDescription(Excerpt.ofMessage(describe(classified), MAX_DESCRIPTION_CHARS))
        .withCause(classified)
        .asRuntimeException();
  }

  /** The message, followed by the messages of its causes that add something. */
  static String describe(Throwable t) {
    StringBuilder sb = new StringBuilder(String.valueOf(t.getMessage()));
    for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
      String m = c.getMessage();
      if (m != null && !sb.toString().contains(m)) {
        sb.append(": ").append(m);
      }
    }
    return sb.toString();
  }
}
