package dev.obd.registry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.obd.configfile.BoundedJsonFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Registry credentials from upstream's {@code cred.json} and, after it, a docker {@code
 * config.json} (same {@code auths} shape; keys may carry a scheme and {@code /v1/} suffix). The
 * files are re-read when they change, so rotated secrets apply without a restart. A file that
 * cannot be used (not a regular file, over 1 MiB, not JSON, nested too deep) is skipped with one
 * warning line naming it and the problem, each time it changes; the daemon keeps serving, since
 * docker's file belongs to another tool. Thread-safe.
 *
 * <p>Matching follows upstream: for {@code host/v2/a/b/blobs/<digest>} the candidate keys are
 * {@code host}, {@code host/a} and {@code host/a/b}; the first entry (in file order) equal to a
 * candidate wins.
 *
 * <p>A docker file may also name credential helpers, as docker does: {@code credHelpers} (per
 * registry host) and {@code credsStore} (for every registry). Per file, in order: the registry's
 * {@code credHelpers} helper, then the {@code credsStore} helper, then the {@code auths} entries;
 * the first that has credentials wins (a helper that has none passes on). An {@code auths} entry
 * with {@code identitytoken} is an identity token (see {@link Credentials}).
 */
public final class CredentialStore implements CredentialSource {
  private static final Logger LOG = Logger.getLogger(CredentialStore.class.getName());

  private final List<Path> files;
  private final CredentialHelpers helpers;
  private volatile Snapshot snapshot = new Snapshot(List.of(), List.of());

  public CredentialStore(Path credJson, Path dockerConfig) {
    this(List.of(credJson, dockerConfig), CredentialHelpers.fromEnvironment());
  }

  /** {@code files} in order; helpers run through {@code helpers}. */
  CredentialStore(List<Path> files, CredentialHelpers helpers) {
    this.files = List.copyOf(files);
    this.helpers = helpers;
  }

  /** A docker {@code config.json} alone (after an auth server's answers). */
  public static CredentialStore dockerConfig(Path dockerConfig) {
    return new CredentialStore(List.of(dockerConfig), CredentialHelpers.fromEnvironment());
  }

  /**
   * The credentials for {@code blob}, if any file has an entry or names a helper that has them.
   *
   * @throws RegistryException a named credential helper could not be run or failed
   */
  @Override
  public Optional<Credentials> lookup(BlobUrl blob) throws RegistryException {
    List<String> hosts = hosts(blob);
    for (FileCredentials f : current()) {
      for (String host : hosts) {
        String helper = f.helpers().get(host);
        if (helper != null) {
          Optional<Credentials> c = helpers.get(helper, serverUrl(blob));
          if (c.isPresent()) {
            return c;
          }
          break;
        }
      }
      if (!f.credsStore().isEmpty()) {
        Optional<Credentials> c = helpers.get(f.credsStore(), serverUrl(blob));
        if (c.isPresent()) {
          return c;
        }
      }
      Optional<Credentials> c = match(f.auths(), blob);
      if (c.isPresent()) {
        return c;
      }
    }
    return Optional.empty();
  }

  /** The registry's host names a {@code credHelpers} key may use. */
  private static List<String> hosts(BlobUrl blob) {
    if (blob.host().equals("registry-1.docker.io")) {
      return List.of("registry-1.docker.io", "index.docker.io", "docker.io");
    }
    return List.of(blob.host());
  }

  /** What docker passes a helper: the host, or Docker Hub's historical index URL. */
  static String serverUrl(BlobUrl blob) {
    return blob.host().equals("registry-1.docker.io") ? "https://index.docker.io/v1/" : blob.host();
  }

  /** Reads the files now (at start), so that an unusable one is reported before a pull needs it. */
  @Override
  public void refresh() {
    current();
  }

  static List<String> candidates(BlobUrl blob) {
    List<String> out = new ArrayList<>();
    String key = blob.host();
    out.add(key);
    for (String part : blob.repository().split("/")) {
      key = key + "/" + part;
      out.add(key);
    }
    if (blob.host().equals("registry-1.docker.io")) {
      List<String> aliases = new ArrayList<>();
      for (String c : out) {
        aliases.add(c.replaceFirst("^registry-1\\.docker\\.io", "index.docker.io"));
        aliases.add(c.replaceFirst("^registry-1\\.docker\\.io", "docker.io"));
      }
      out.addAll(aliases);
    }
    return out;
  }

  private List<FileCredentials> current() {
    List<Long> stamps = new ArrayList<>();
    for (Path f : files) {
      try {
        stamps.add(Files.getLastModifiedTime(f).toMillis() ^ Files.size(f));
      } catch (IOException e) {
        stamps.add(-1L);
      }
    }
    Snapshot s = snapshot;
    if (!s.stamps().equals(stamps)) {
      List<FileCredentials> loaded = new ArrayList<>();
      for (Path f : files) {
        loaded.add(load(f));
      }
      s = new Snapshot(stamps, List.copyOf(loaded));
      snapshot = s;
    }
    return s.files();
  }

  private static FileCredentials load(Path file) {
    JsonNode root;
    try {
      root = BoundedJsonFile.readTree(file);
    } catch (NoSuchFileException e) {
      return FileCredentials.NONE;
    } catch (IOException e) {
      // One line naming the file and the problem, never the content: it may be a secret.
      LOG.warning("ignoring credential file " + e.getMessage());
      return FileCredentials.NONE;
    }
    if (root == null || !root.isObject()) {
      return FileCredentials.NONE;
    }
    Map<String, Credentials> out = auths(root.get("auths"), file.toString());
    Map<String, String> helpers = new LinkedHashMap<>();
    JsonNode credHelpers = root.get("credHelpers");
    if (credHelpers != null && credHelpers.isObject()) {
      for (Map.Entry<String, JsonNode> e : credHelpers.properties()) {
        if (e.getValue().isTextual() && !e.getValue().asText().isEmpty()) {
          helpers.putIfAbsent(normalizeKey(e.getKey()), e.getValue().asText());
        }
      }
    }
    JsonNode store = root.get("credsStore");
    String credsStore = store != null && store.isTextual() ? store.asText() : "";
    return new FileCredentials(out, helpers, credsStore);
  }

  /**
   * The entries of an {@code auths} object in order, keys normalized; an entry without usable
   * credentials is left out, a malformed one with a warning naming its key and {@code where}.
   */
  static Map<String, Credentials> auths(JsonNode auths, String where) {
    Map<String, Credentials> out = new LinkedHashMap<>();
    if (auths == null || !auths.isObject()) {
      return out;
    }
    for (Map.Entry<String, JsonNode> e : auths.properties()) {
      String key = normalizeKey(e.getKey());
      if (out.containsKey(key)) {
        continue;
      }
      JsonNode v = e.getValue();
      try {
        if (v.hasNonNull("identitytoken") && !v.get("identitytoken").asText().isEmpty()) {
          // docker writes it next to an "auth" with the user name only: the token is the secret
          out.put(key, Credentials.identityToken(v.get("identitytoken").asText()));
        } else if (v.hasNonNull("username") && v.hasNonNull("password")) {
          out.put(key, new Credentials(v.get("username").asText(), v.get("password").asText()));
        } else if (v.hasNonNull("auth") && !v.get("auth").asText().isEmpty()) {
          out.put(key, Credentials.fromAuth(v.get("auth").asText()));
        }
      } catch (IllegalArgumentException ex) {
        LOG.warning("ignoring malformed credential entry for " + key + " in " + where);
      }
    }
    return out;
  }

  /** The first of {@code auths} (in order) whose key is one of {@code blob}'s candidates. */
  static Optional<Credentials> match(Map<String, Credentials> auths, BlobUrl blob) {
    List<String> candidates = candidates(blob);
    for (Map.Entry<String, Credentials> e : auths.entrySet()) {
      if (candidates.contains(e.getKey())) {
        return Optional.of(e.getValue());
      }
    }
    return Optional.empty();
  }

  /** Docker keys may be full URLs ({@code https://index.docker.io/v1/}); upstream's are bare. */
  static String normalizeKey(String key) {
    String k = key.replaceFirst("^https?://", "");
    k = k.replaceFirst("/v[12]/?$", "");
    while (k.endsWith("/")) {
      k = k.substring(0, k.length() - 1);
    }
    return k;
  }

  private record Snapshot(List<Long> stamps, List<FileCredentials> files) {}

  /** What one file holds: {@code auths} in file order, {@code credHelpers}, {@code credsStore}. */
  private record FileCredentials(
      Map<String, Credentials> auths, Map<String, String> helpers, String credsStore) {
    static final FileCredentials NONE = new FileCredentials(Map.of(), Map.of(), "");
  }
}
