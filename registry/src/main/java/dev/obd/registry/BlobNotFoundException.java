package dev.obd.registry;

/** The registry answered 404 for the blob: retrying gives the same answer. */
public final class BlobNotFoundException extends RegistryException {
  private static final long serialVersionUID = 1L;

  BlobNotFoundException(String message) {
    super(message, null);
  }
}
