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
 */
public final class CredentialStore {
  private static final Logger LOG = Logger.getLogger(CredentialStore.class.getName());

  private final List<Path> files;
  private volatile Snapshot snapshot = new Snapshot(List.of(), Map.of());

  public CredentialStore(Path credJson, Path dockerConfig) {
    this.files = List.of(credJson, dockerConfig);
  }

  /** The credentials for {@code blob}, if any file has an entry for it. */
  public Optional<Credentials> lookup(BlobUrl blob) {
    Map<String, Credentials> auths = current();
    List<String> candidates = candidates(blob);
    for (Map.Entry<String, Credentials> e : auths.entrySet()) {
      if (candidates.contains(e.getKey())) {
        return Optional.of(e.getValue());
      }
    }
    return Optional.empty();
  }

  /** Reads the files now (at start), so that an unusable one is reported before a pull needs it. */
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

  private Map<String, Credentials> current() {
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
      Map<String, Credentials> merged = new LinkedHashMap<>();
      for (Path f : files) {
        merged.putAll(load(f, merged));
      }
      s = new Snapshot(stamps, merged);
      snapshot = s;
    }
    return s.auths();
  }

  private static Map<String, Credentials> load(Path file, Map<String, Credentials> earlier) {
    Map<String, Credentials> out = new LinkedHashMap<>();
    JsonNode root;
    try {
      root = BoundedJsonFile.readTree(file);
    } catch (NoSuchFileException e) {
      return out;
    } catch (IOException e) {
      // One line naming the file and the problem, never the content: it may be a secret.
      LOG.warning("ignoring credential file " + e.getMessage());
      return out;
    }
    JsonNode auths = root == null ? null : root.get("auths");
    if (auths == null || !auths.isObject()) {
      return out;
    }
    for (Map.Entry<String, JsonNode> e : auths.properties()) {
      String key = normalizeKey(e.getKey());
      if (earlier.containsKey(key) || out.containsKey(key)) {
        continue;
      }
      JsonNode v = e.getValue();
      try {
        if (v.hasNonNull("username") && v.hasNonNull("password")) {
          out.put(key, new Credentials(v.get("username").asText(), v.get("password").asText()));
        } else if (v.hasNonNull("auth") && !v.get("auth").asText().isEmpty()) {
          out.put(key, Credentials.fromAuth(v.get("auth").asText()));
        }
      } catch (IllegalArgumentException ex) {
        LOG.warning("ignoring malformed credential entry for " + key + " in " + file);
      }
    }
    return out;
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

  private record Snapshot(List<Long> stamps, Map<String, Credentials> auths) {}
}
