package dev.obd.snapshotter.storage;

/**
 * The metadata store itself failed (I/O error, full disk, corrupt database). Not a client error:
 * containerd sees it as an unknown error carrying this message.
 */
public final class StorageException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  StorageException(String message, Throwable cause) {
    super(message, cause);
  }
}
