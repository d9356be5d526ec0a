package dev.obd.backstore.api;

/**
 * The registry refuses the backstore's credentials for the blob a check named (HTTP 403 from {@code
 * /v1/blobs/check}): reads of it would fail. The message is the registry's answer, never a secret.
 */
public final class BlobAccessDeniedException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  BlobAccessDeniedException(String message) {
    super(message, null);
  }
}
