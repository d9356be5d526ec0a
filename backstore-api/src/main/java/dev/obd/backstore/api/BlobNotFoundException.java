package dev.obd.backstore.api;

/**
 * The registry has no blob (of that size) where a check looked (HTTP 404 from {@code
 * /v1/blobs/check}).
 */
public final class BlobNotFoundException extends BackstoreApiException {
  private static final long serialVersionUID = 1L;

  BlobNotFoundException(String message) {
    super(message, null);
  }
}
