package dev.obd.registry;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * Where registry credentials come from, upstream's {@code credentialConfig}: {@link Mode#LEGACY}
 * (mode {@code ""}) reads {@code credentialFile} (upstream's {@code credentialFilePath}), {@link
 * Mode#FILE} the cred.json at {@code path}, {@link Mode#HTTP} and {@link Mode#HTTPS} ask the auth
 * server at URL {@code path}, {@link Mode#UDS} the one on unix socket {@code path}; each asks once
 * per {@code timeout}. The docker {@code config.json} at {@code dockerConfig} is used after that
 * source (its {@code auths}, {@code credHelpers} and {@code credsStore}).
 *
 * @param clientCert for https: the client certificate (PEM) for mutual TLS, or null
 * @param clientKey for https: its private key (PEM), or null
 * @param serverCa for https: the CA certificates (PEM) that sign the server's, or null for the
 *     JDK's trusted CAs
 */
public record CredentialSettings(
    Mode mode,
    String path,
    Duration timeout,
    Path clientCert,
    Path clientKey,
    Path serverCa,
    Path credentialFile,
    Path dockerConfig) {

  /** Upstream's {@code credentialConfig.mode} values. */
  public enum Mode {
    LEGACY(""),
    FILE("file"),
    HTTP("http"),
    HTTPS("https"),
    UDS("uds");

    private final String key;

    Mode(String key) {
      this.key = key;
    }

    public String key() {
      return key;
    }

    /**
     * The mode named {@code key}; null or empty is {@link #LEGACY}.
     *
     * @throws IllegalArgumentException naming the allowed values
     */
    public static Mode parse(String key) {
      String k = key == null ? "" : key.trim().toLowerCase(Locale.ROOT);
      for (Mode m : values()) {
        if (m.key.equals(k)) {
          return m;
        }
      }
      throw new IllegalArgumentException(
          "credentialConfig.mode must be \"\" (credentialFilePath), file, http, https or uds, not \""
              + dev.obd.configfile.BoundedJsonFile.oneLine(key, 60)
              + "\"");
    }
  }

  public CredentialSettings {
    Objects.requireNonNull(mode);
    Objects.requireNonNull(timeout);
    Objects.requireNonNull(credentialFile);
    Objects.requireNonNull(dockerConfig);
    path = path == null ? "" : path;
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("credentialConfig.timeout must be positive");
    }
    String p = path;
    switch (mode) {
      case LEGACY -> {}
      case FILE, UDS -> {
        if (!p.startsWith("/")) {
          throw new IllegalArgumentException(
              "credentialConfig.path must be an absolute "
                  + (mode == Mode.FILE ? "file" : "socket")
                  + " path for mode "
                  + mode.key()
                  + ", not \""
                  + p
                  + "\"");
        }
      }
      case HTTP, HTTPS -> {
        URI u;
        try {
          u = URI.create(p);
        } catch (IllegalArgumentException e) {
          u = null;
        }
        if (u == null
            || !mode.key().equals(u.getScheme())
            || u.getRawAuthority() == null
            || u.getRawAuthority().isEmpty()) {
          throw new IllegalArgumentException(
              "credentialConfig.path must be a "
                  + mode.key()
                  + ":// URL of the auth server for mode "
                  + mode.key()
                  + ", not \""
                  + p
                  + "\"");
        }
      }
    }
    if (mode == Mode.HTTPS && (clientCert == null) != (clientKey == null)) {
      throw new IllegalArgumentException(
          "credentialConfig.client_cert_path and client_key_path go together: give both or neither");
    }
  }

  /** The legacy source: {@code credentialFile}, then {@code dockerConfig}. */
  public static CredentialSettings files(Path credentialFile, Path dockerConfig) {
    return new CredentialSettings(
        Mode.LEGACY, "", Duration.ofSeconds(1), null, null, null, credentialFile, dockerConfig);
  }

  /**
   * The source these settings describe. For https the PEM files are read now, so that a bad one
   * stops the start.
   *
   * @throws IOException a certificate or key file cannot be used; the message names it
   */
  public CredentialSource open() throws IOException {
    CredentialSource server;
    switch (mode) {
      case LEGACY:
        return new CredentialStore(credentialFile, dockerConfig);
      case FILE:
        return new CredentialStore(Path.of(path), dockerConfig);
      case HTTP:
        server = AuthServerSource.http(URI.create(path), timeout, null);
        break;
      case HTTPS:
        try {
          server =
              AuthServerSource.http(
                  URI.create(path), timeout, Pem.sslContext(clientCert, clientKey, serverCa));
        } catch (IOException e) {
          throw new IOException("credentialConfig: " + e.getMessage(), e);
        }
        break;
      case UDS:
        server = AuthServerSource.unixSocket(Path.of(path), timeout);
        break;
      default:
        throw new AssertionError(mode);
    }
    return CredentialSource.inTurn(server, CredentialStore.dockerConfig(dockerConfig));
  }
}
