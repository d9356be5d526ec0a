package dev.obd.snapshotter.device;

import java.time.Instant;
import java.util.Objects;

/**
 * Registry credentials for the blobs of one repository, as kubelet sent them with a CRI PullImage,
 * to be handed to the data plane so that it can read the image's layers lazily. Kept in memory
 * only.
 *
 * <p>{@link #toString} never shows the secret.
 *
 * @param host the host of the repository's blob URLs ({@code registry-1.docker.io} for Docker Hub)
 * @param repository e.g. {@code library/redis}
 * @param username empty for an identity token
 * @param secret the password or the identity token
 * @param identityToken whether {@code secret} is an identity token
 * @param expiresAt when the snapshotter and the data plane forget them
 */
public record PullCredential(
    String host,
    String repository,
    String username,
    String secret,
    boolean identityToken,
    Instant expiresAt) {
  public PullCredential {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(repository, "repository");
    Objects.requireNonNull(username, "username");
    Objects.requireNonNull(secret, "secret");
    Objects.requireNonNull(expiresAt, "expiresAt");
  }

  /** For messages: {@code host/repository}. */
  public String repositoryName() {
    return host + "/" + repository;
  }

  @Override
  public String toString() {
    return "PullCredential["
        + repositoryName()
        + ", "
        + (identityToken ? "identity token" : "user '" + username + "'")
        + ", secret=<hidden>, expiresAt="
        + expiresAt
        + "]";
  }
}
