package dev.obd.backstore.api;

import java.io.IOException;

/**
 * A control API call the daemon refused or could not complete, one subclass per answer a caller
 * treats differently. {@link BackstoreClient} makes them in one place from the HTTP status (and
 * from a connection that failed); the message is the daemon's reason, or what the client could not
 * do.
 */
public abstract sealed class BackstoreApiException extends IOException
    permits InvalidRequestException,
        DeviceNotFoundException,
        DeviceInUseException,
        BackstoreFailedException,
        BackstoreUnavailableException,
        BlobAccessDeniedException,
        BlobNotFoundException,
        RegistryUnreachableException {
  private static final long serialVersionUID = 1L;

  BackstoreApiException(String message, Throwable cause) {
    super(message, cause);
  }
}
