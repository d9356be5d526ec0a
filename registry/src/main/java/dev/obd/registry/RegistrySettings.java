package dev.obd.registry;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How blobs are fetched: where credentials come from, how long one HTTP attempt and one whole read
 * may take, mirrors to try first, and upstream's P2P proxy prefix (empty when off).
 *
 * @param readDeadline a read retries transient failures with backoff until this much time has
 *     passed, then fails (the NBD client sees EIO); upstream retries for days instead
 */
public record RegistrySettings(
    Path credentialFile,
    Path dockerConfig,
    Duration connectTimeout,
    Duration requestTimeout,
    Duration readDeadline,
    List<Mirror> mirrors,
    String p2pAddress) {

  public RegistrySettings {
    Objects.requireNonNull(credentialFile);
    Objects.requireNonNull(dockerConfig);
    mirrors = List.copyOf(mirrors);
    p2pAddress = p2pAddress == null ? "" : p2pAddress;
    if (connectTimeout.isNegative()
        || connectTimeout.isZero()
        || requestTimeout.isZero()
        || readDeadline.isZero()) {
      throw new IllegalArgumentException("registry timeouts must be positive");
    }
  }

  /** Blobs of registry {@code host} are tried at {@code endpoint} (scheme://host[:port]) first. */
  public record Mirror(String host, String endpoint) {}
}
