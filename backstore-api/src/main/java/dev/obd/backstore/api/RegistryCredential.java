package dev.obd.backstore.api;

import java.time.Instant;
import java.util.Objects;

/**
 * Credentials for the blobs of one repository, pushed to the daemon ({@code PUT /v1/credentials})
 * by a client that got them from the one who pulls, such as the snapshotter's CRI image proxy from
 * kubelet's PullImage. The daemon keeps them in memory only, until {@code expiresAt}, and asks them
 * first for blob URLs of {@code host}/{@code repository}.
 *
 * <p>{@link #toString} never shows the secret, so a record in a log line or a message leaks
 * nothing.
 *
 * @param host the registry host of blob URLs ({@code host[:port]}, {@code registry-1.docker.io} for
 *     Docker Hub)
 * @param repository the repository path, e.g. {@code library/redis}
 * @param username the user name; empty for an identity token
 * @param secret the password, or the identity token (an OAuth2 refresh token for the registry's
 *     token server)
 * @param identityToken whether {@code secret} is an identity token
 * @param expiresAt when the daemon forgets them
 */
public record RegistryCredential(
    String host,
    String repository,
    String username,
    String secret,
    boolean identityToken,
    Instant expiresAt) {

  /** Longest host, repository, user name or secret accepted; anything longer is not real. */
  public static final int MAX_FIELD_LENGTH = 8192;

  /**
   * @throws IllegalArgumentException naming the field (never showing the secret) when a field is
   *     empty where it may not be, too long, or has control characters
   */
  public RegistryCredential {
    Objects.requireNonNull(expiresAt, "expiresAt");
    check("host", host, false, false);
    check("repository", repository, false, false);
    check("username", username, identityToken, true);
    if (identityToken && !username.isEmpty()) {
      throw new IllegalArgumentException("credential: an identity token has no user name");
    }
    if (secret == null || secret.isEmpty() || secret.length() > MAX_FIELD_LENGTH) {
      throw new IllegalArgumentException(
          "credential for "
              + host
              + "/"
              + repository
              + ": the "
              + (identityToken ? "identity token" : "password")
              + " must be 1 to "
              + MAX_FIELD_LENGTH
              + " characters");
    }
    if (host.contains("/") || host.contains("@")) {
      throw new IllegalArgumentException(
          "credential: host must be host[:port], not \"" + host + "\"");
    }
    if (repository.startsWith("/") || repository.endsWith("/")) {
      throw new IllegalArgumentException(
          "credential: repository must be a path such as library/redis, not \""
              + repository
              + "\"");
    }
  }

  private static void check(String field, String value, boolean mayBeEmpty, boolean spaces) {
    if (value == null || (!mayBeEmpty && value.isEmpty()) || value.length() > MAX_FIELD_LENGTH) {
      throw new IllegalArgumentException(
          "credential: \"" + field + "\" must be 1 to " + MAX_FIELD_LENGTH + " characters");
    }
    for (int i = 0; i < value.length(); i++) {
      if (Character.isISOControl(value.charAt(i)) || (!spaces && value.charAt(i) == ' ')) {
        throw new IllegalArgumentException(
            "credential: \"" + field + "\" has a space or a control character");
      }
    }
  }

  /** Whether these credentials are forgotten at {@code now}. */
  public boolean expiredAt(Instant now) {
    return !now.isBefore(expiresAt);
  }

  @Override
  public String toString() {
    return "RegistryCredential["
        + host
        + "/"
        + repository
        + ", "
        + (identityToken ? "identity token" : "user '" + username + "'")
        + ", secret=<hidden>, expiresAt="
        + expiresAt
        + "]";
  }
}
