package dev.obd.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A real Docker registry ({@code docker-registry} from Debian) on 127.0.0.1 at a free port, with
 * its storage in a directory the test owns. Stopped by {@link #close}.
 */
public final class LocalRegistry implements AutoCloseable {
  private final int port;
  private final ChildProcess process;

  private LocalRegistry(int port, ChildProcess process) {
    this.port = port;
    this.process = process;
  }

  /** Starts a registry keeping its data and log under {@code dir}. */
  public static LocalRegistry start(Path dir) {
    return start(dir, "");
  }

  /**
   * Starts a registry that requires Basic authentication by the users of {@code htpasswd} (bcrypt
   * entries, as {@code htpasswd -B} writes them) for every request.
   */
  public static LocalRegistry startWithHtpasswd(Path dir, Path htpasswd) {
    return start(
        dir,
        String.join(
            "\n", "auth:", "  htpasswd:", "    realm: obd-test", "    path: " + htpasswd, ""));
  }

  /**
   * Starts a registry in token mode: every request needs a bearer token from {@code tokens}, which
   * a client gets by following the 401 challenge.
   */
  public static LocalRegistry startWithTokens(Path dir, RegistryTokenServer tokens) {
    return start(dir, tokens.registryAuthYaml());
  }

  private static LocalRegistry start(Path dir, String authYaml) {
    Requirements.requireCommand("docker-registry");
    int port = freePort();
    try {
      Files.createDirectories(dir.resolve("storage"));
      Path config = dir.resolve("config.yml");
      Files.writeString(
          config,
          String.join(
                  "\n",
                  "version: 0.1",
                  "log:",
                  "  level: info",
                  "  accesslog:",
                  "    disabled: false",
                  "storage:",
                  "  filesystem:",
                  "    rootdirectory: " + dir.resolve("storage"),
                  "  delete:",
                  "    enabled: true",
                  "http:",
                  "  addr: 127.0.0.1:" + port,
                  "")
              + authYaml);
      ChildProcess p =
          ChildProcess.start(
              "docker-registry",
              List.of("docker-registry", "serve", config.toString()),
              dir.resolve("registry.log"),
              Map.of());
      LocalRegistry r = new LocalRegistry(port, p);
      p.awaitCondition("answer on /v2/", Duration.ofSeconds(20), r::answers);
      return r;
    } catch (IOException e) {
      throw new UncheckedIOException("start registry in " + dir, e);
    }
  }

  /** {@code 127.0.0.1:<port>}, the host part of image references. */
  public String host() {
    return "127.0.0.1:" + port;
  }

  public URI url() {
    return URI.create("http://" + host());
  }

  public Path log() {
    return process.log();
  }

  private boolean answers() {
    try {
      HttpURLConnection c = (HttpURLConnection) url().resolve("/v2/").toURL().openConnection();
      c.setConnectTimeout(500);
      c.setReadTimeout(500);
      int code = c.getResponseCode();
      c.disconnect();
      return code == 200 || code == 401;
    } catch (IOException e) {
      return false;
    }
  }

  /** A TCP port on 127.0.0.1 that was free a moment ago. */
  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.terminate(Duration.ofSeconds(10));
    }
  }
}
