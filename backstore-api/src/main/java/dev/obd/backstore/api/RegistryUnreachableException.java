package dev.obd.backstore.api;

/**
 * The backstore could not reach the registry for a blob check by its read deadline (HTTP 503 from
 * {@code /v1/blobs/check}): nothing is known about the blob yet.
 */
public final class RegistryUnreachableException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  RegistryUnreachableException(String message) {
    super(message, null);
  }
}
