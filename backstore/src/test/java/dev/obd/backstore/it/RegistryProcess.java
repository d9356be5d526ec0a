package dev.obd.backstore.it;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * docker-registry on a fixed loopback port that a test can stop and start again (the blob URL in a
 * config names the port), optionally with htpasswd (Basic) authentication. The generic {@code
 * LocalRegistry} picks a new port on every start, hence this test-local variant.
 */
final class RegistryProcess implements AutoCloseable {
  private final Path dir;
  private final int port;
  private final String auth;
  private ChildProcess process;

  RegistryProcess(Path dir, int port, Path htpasswd) {
    this(
        dir,
        port,
        htpasswd == null
            ? ""
            : String.join(
                "\n", "auth:", "  htpasswd:", "    realm: obd-test", "    path: " + htpasswd, ""));
  }

  /** A registry whose config ends with {@code authYaml} (an "auth:" section, or empty). */
  RegistryProcess(Path dir, int port, String authYaml) {
    this.dir = dir;
    this.port = port;
    this.auth = authYaml;
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + port);
  }

  Path log() {
    return dir.resolve("registry.log");
  }

  RegistryProcess start() throws IOException {
    Requirements.requireCommand("docker-registry");
    Files.createDirectories(dir.resolve("storage"));
    Path config = dir.resolve("config.yml");
    Files.writeString(
        config,
        String.join(
                "\n",
                "version: 0.1",
                "log:",
                "  level: info",
                "storage:",
                "  filesystem:",
                "    rootdirectory: " + dir.resolve("storage"),
                "http:",
                "  addr: 127.0.0.1:" + port,
                "")
            + auth);
    process =
        ChildProcess.start(
            "docker-registry",
            List.of("docker-registry", "serve", config.toString()),
            log(),
            Map.of());
    process.awaitCondition("answer on /v2/", Duration.ofSeconds(20), this::answers);
    return this;
  }

  void stop() {
    if (process != null && process.isAlive()) {
      process.terminate(Duration.ofSeconds(10));
    }
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

  @Override
  public void close() {
    stop();
  }
}
