package dev.obd.snapshotter.api;

import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.errdefs.UnavailableException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * The one place where failures become gRPC statuses, with the codes containerd's errdefs use: each
 * {@link dev.obd.snapshotter.errdefs.SnapshotterException} kind maps to its code; anything else is
 * UNKNOWN, as containerd reports errors it cannot classify. The description is the exception's
 * message, which containerd shows the user.
 */
final class ErrorMapping {
  private ErrorMapping() {}

  static StatusRuntimeException toStatus(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s;
    }
    Status status = Status.UNKNOWN;
    if (t instanceof NotFoundException) {
      status = Status.NOT_FOUND;
    } else if (t instanceof AlreadyExistsException) {
      status = Status.ALREADY_EXISTS;
    } else if (t instanceof InvalidArgumentException) {
      status = Status.INVALID_ARGUMENT;
    } else if (t instanceof FailedPreconditionException) {
      status = Status.FAILED_PRECONDITION;
    } else if (t instanceof UnavailableException) {
      status = Status.UNAVAILABLE;
    }
    return status.withDescription(describe(t)).withCause(t).asRuntimeException();
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
