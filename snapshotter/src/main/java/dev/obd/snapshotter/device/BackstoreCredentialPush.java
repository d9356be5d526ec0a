package dev.obd.snapshotter.device;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.RegistryCredential;
import dev.obd.snapshotter.errdefs.UnavailableException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Pull credentials handed to obd-backstore over its control socket ({@code PUT /v1/credentials}).
 */
final class BackstoreCredentialPush implements CredentialPush {
  private final BackstoreClient client;
  private final Path socket;

  BackstoreCredentialPush(BackstoreClient client, Path socket) {
    this.client = client;
    this.socket = socket;
  }

  @Override
  public void push(PullCredential c, Duration deadline) {
    RegistryCredential r;
    try {
      r =
          new RegistryCredential(
              c.host(), c.repository(), c.username(), c.secret(), c.identityToken(), c.expiresAt());
    } catch (IllegalArgumentException e) {
      // its messages name fields, never the secret
      throw new UnavailableException(
          "hand the pull credentials for "
              + c.repositoryName()
              + " to obd-backstore: "
              + e.getMessage());
    }
    try {
      client.putCredentials(r, deadline);
    } catch (BackstoreApiException e) {
      throw new UnavailableException(
          "hand the pull credentials for "
              + c.repositoryName()
              + " to obd-backstore at "
              + socket
              + ": "
              + e.getMessage(),
          e);
    }
  }

  @Override
  public String instance(Duration deadline) {
    try {
      return client.info(deadline).instance();
    } catch (BackstoreApiException e) {
      throw new UnavailableException("ask obd-backstore at " + socket + ": " + e.getMessage(), e);
    }
  }
}
