package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A private registry (docker-registry with htpasswd) whose credentials are in no cred.json: once
 * only an auth server on loopback has them (upstream's credentialConfig mode http), once only a
 * docker credential helper on the daemon's PATH (credHelpers in docker's config.json). The device
 * reads as its source, and the secret is in no log line of the daemon.
 */
class CredentialSourcesTest {
  private static final String PASSWORD = "src-Pa55-hidden";

  @TempDir Path dir;
  private TestImages.Built img;

  /** Checks the requirements, builds the image and returns alice's htpasswd file. */
  private Path prepare() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    img = TestImages.build(dir.resolve("img"), 1, 1 << 20, 16L << 20);
    Path htpasswd = dir.resolve("htpasswd");
    Mounts.run(List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD), null);
    return htpasswd;
  }

  private void push(RegistryProcess registry) throws Exception {
    String basic =
        "Basic "
            + Base64.getEncoder()
                .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    TestImages.push(registry.url(), "priv/img", img.blob(), img.digest(), basic);
  }

  @Test
  void anAuthServerInHttpModeGivesTheCredentialsForTheBlobUrl() throws Exception {
    Path htpasswd = prepare();
    Path daemonDir = dir.resolve("d");
    List<String> asked = Collections.synchronizedList(new ArrayList<>());
    HttpServer authServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    try (RegistryProcess registry =
            new RegistryProcess(dir.resolve("reg"), LocalRegistry.freePort(), htpasswd).start();
        Mounts mounts = new Mounts()) {
      push(registry);
      authServer.createContext(
          "/auth",
          ex -> {
            String q = ex.getRequestURI().getRawQuery();
            asked.add(
                URLDecoder.decode(q.replaceFirst("^remote_url=", ""), StandardCharsets.UTF_8));
            byte[] body =
                ("{\"traceId\":\"t\",\"success\":true,\"data\":{\"auths\":{\""
                        + registry.url().getAuthority()
                        + "/priv\":{\"username\":\"alice\",\"password\":\""
                        + PASSWORD
                        + "\"}}}}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
          });
      authServer.start();
      Path config = imageConfig(registry);
      BackstoreDaemon daemon =
          BackstoreDaemon.start(
              Fixture.readConfig(
                  Fixture.daemonConfig(
                      daemonDir,
                      Map.of(
                          "credentialConfig",
                          Map.of(
                              "mode",
                              "http",
                              "path",
                              "http://127.0.0.1:" + authServer.getAddress().getPort() + "/auth",
                              "timeout",
                              2)))));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        authServer.stop(0);
      }
      assertThat(asked)
          .as("asked with the blob URL, once: the answer is cached")
          .containsExactly(registry.url() + "/v2/priv/img/blobs/" + img.digest());
    }
  }

  @Test
  void aCredentialHelperOnTheDaemonsPathGivesTheCredentials() throws Exception {
    Path htpasswd = prepare();
    Path daemonDir = dir.resolve("d");
    Path bin = Files.createDirectories(dir.resolve("bin"));
    Path asked = dir.resolve("helper-asked");
    try (RegistryProcess registry =
            new RegistryProcess(dir.resolve("reg"), LocalRegistry.freePort(), htpasswd).start();
        Mounts mounts = new Mounts()) {
      push(registry);
      Path helper = bin.resolve("docker-credential-obdtest");
      Files.writeString(
          helper,
          String.join(
              "\n",
              "#!/bin/sh",
              "read -r host",
              "echo \"$1 $host\" >> " + asked,
              "printf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"%s\"}' \"$host\" '"
                  + PASSWORD
                  + "'",
              ""));
      Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwxr-xr-x"));
      Files.createDirectories(daemonDir);
      Files.writeString(
          daemonDir.resolve("docker-config.json"),
          "{\"auths\":{},\"credHelpers\":{\"" + registry.url().getAuthority() + "\":\"obdtest\"}}");
      Path config = imageConfig(registry);
      try (ChildProcess daemon =
          DaemonProcess.launch(
              daemonDir,
              Fixture.daemonConfig(daemonDir, Map.of("logLevel", "debug")),
              "daemon.log",
              Map.of("PATH", bin + ":" + System.getenv("PATH")))) {
        Path socket = daemonDir.resolve("run/backstore.sock");
        daemon.awaitCondition(
            "control API answers", Duration.ofSeconds(60), () -> BackstoreClient.answers(socket));
        BackstoreClient client = Fixture.client(daemonDir);
        DeviceInfo d = client.add(config, Duration.ofSeconds(30));
        Fixture.assertFilesReadAsSource(
            mounts, d.device(), dir.resolve("mnt"), img.source(), "data/file0.bin");
        client.remove(d.device(), Duration.ofSeconds(30));
        daemon.terminate(Duration.ofSeconds(30));
        assertThat(Files.readString(daemon.log()))
            .isNotEmpty()
            .doesNotContain(PASSWORD)
            .doesNotContain(
                Base64.getEncoder()
                    .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8)));
      } finally {
        Fixture.forceCleanup(daemonDir.resolve("run"));
      }
      assertThat(Files.readAllLines(asked)).containsExactly("get " + registry.url().getAuthority());
    }
  }

  private Path imageConfig(RegistryProcess registry) throws Exception {
    return Fixture.imageConfig(
        dir.resolve("snap/config.v1.json"),
        Map.of(
            "repoBlobUrl", registry.url() + "/v2/priv/img/blobs",
            "lowers", List.of(Map.of("digest", img.digest(), "size", img.blobSize())),
            "upper", Map.of()));
  }
}
