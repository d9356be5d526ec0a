package dev.obd.snapshotter.errdefs;

/**
 * Base of the exceptions a snapshotter operation reports to its caller, one subclass per class of
 * containerd's {@code errdefs} that a snapshotter can return. The API layer maps each subclass to
 * one gRPC status code; anything else reaching the API layer is an internal error.
 *
 * <p>Messages follow containerd's convention of ending in the class's text ({@code ": not found"},
 * {@code ": already exists"}, ...) so that containerd's client, which strips that suffix when it
 * turns the status back into an error, shows the operator a clean message.
 */
public abstract sealed class SnapshotterException extends RuntimeException
    permits NotFoundException,
        AlreadyExistsException,
        InvalidArgumentException,
        FailedPreconditionException,
        ResourceExhaustedException,
        UnavailableException {

  private static final long serialVersionUID = 1L;

  SnapshotterException(String message, String suffix, Throwable cause) {
    super(message.endsWith(suffix) ? message : message + ": " + suffix, cause);
  }
}
