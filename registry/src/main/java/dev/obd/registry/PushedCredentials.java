package dev.obd.registry;

import java.time.Clock;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Credentials handed to the daemon at run time for one repository each (by the snapshotter's CRI
 * image proxy, from kubelet's PullImage), kept in memory only until each expires. Asked first,
 * before the configured sources: whoever pulls an image knows best how to read it.
 *
 * <p>A blob matches the credentials of exactly its host and repository; Docker Hub's host names
 * ({@code docker.io}, {@code index.docker.io}) are taken as {@code registry-1.docker.io}, the host
 * of its blob URLs. At most {@code maxEntries} repositories are kept; a new one beyond that pushes
 * out the one kept longest without being renewed.
 *
 * <p>Thread-safe. Nothing here logs, and {@link Credentials#toString} hides the secret.
 */
public final class PushedCredentials implements CredentialSource {
  /** How many repositories are kept by default. */
  public static final int DEFAULT_MAX_ENTRIES = 4096;

  private record Key(String host, String repository) {}

  private record Entry(Credentials credentials, Instant expiresAt) {}

  private final int maxEntries;
  private final Clock clock;
  // access order off: put() moves a renewed entry to the end explicitly
  private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>();

  public PushedCredentials() {
    this(DEFAULT_MAX_ENTRIES, Clock.systemUTC());
  }

  PushedCredentials(int maxEntries, Clock clock) {
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be positive");
    }
    this.maxEntries = maxEntries;
    this.clock = clock;
  }

  /**
   * Keeps {@code username}/{@code secret} (or, with {@code identityToken}, the identity token
   * {@code secret}) for the blobs of {@code host}/{@code repository} until {@code expiresAt},
   * replacing what was kept for them.
   */
  public void put(
      String host,
      String repository,
      String username,
      String secret,
      boolean identityToken,
      Instant expiresAt) {
    Credentials c =
        identityToken ? Credentials.identityToken(secret) : new Credentials(username, secret);
    Key key = new Key(blobHost(host), repository);
    synchronized (entries) {
      entries.remove(key);
      entries.put(key, new Entry(c, expiresAt));
      dropExpired(clock.instant());
      Iterator<Key> oldest = entries.keySet().iterator();
      while (entries.size() > maxEntries) {
        oldest.next();
        oldest.remove();
      }
    }
  }

  /** How many repositories have credentials that have not expired. */
  public int size() {
    synchronized (entries) {
      dropExpired(clock.instant());
      return entries.size();
    }
  }

  @Override
  public Optional<Credentials> lookup(BlobUrl blob) {
    Key key = new Key(blobHost(blob.host()), blob.repository());
    synchronized (entries) {
      Entry e = entries.get(key);
      if (e == null) {
        return Optional.empty();
      }
      if (!clock.instant().isBefore(e.expiresAt())) {
        entries.remove(key);
        return Optional.empty();
      }
      return Optional.of(e.credentials());
    }
  }

  private void dropExpired(Instant now) {
    entries.values().removeIf(e -> !now.isBefore(e.expiresAt()));
  }

  /** The host of blob URLs for a registry named {@code host}. */
  static String blobHost(String host) {
    return switch (host) {
      case "docker.io", "index.docker.io" -> "registry-1.docker.io";
      default -> host;
    };
  }

  @Override
  public String toString() {
    synchronized (entries) {
      StringBuilder b = new StringBuilder("PushedCredentials[");
      for (Map.Entry<Key, Entry> e : entries.entrySet()) {
        b.append(e.getKey().host()).append('/').append(e.getKey().repository()).append(' ');
      }
      return b.append(']').toString();
    }
  }
}
