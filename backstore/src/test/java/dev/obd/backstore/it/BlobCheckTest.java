package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.BlobAccessDeniedException;
import dev.obd.backstore.api.BlobNotFoundException;
import dev.obd.backstore.api.RegistryUnreachableException;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.logging.Handler;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /v1/blobs/check} against a real docker-registry with htpasswd: the answer a pull gets
 * before a lazy layer is taken as present. The right credentials read the blob; wrong or missing
 * ones are refused with the registry's answer and no secret; a missing blob is not found; a
 * registry nobody serves is unreachable.
 */
class BlobCheckTest {
  private static final String PASSWORD = "chk-Pa55-never-shown";
  private static final Duration DEADLINE = Duration.ofSeconds(30);

  @TempDir Path dir;

  @Test
  void aBlobIsReadableWithTheRightCredentialsAndRefusedClearlyOtherwise() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    byte[] bytes = new byte[100_000];
    new Random(14).nextBytes(bytes);
    Path blob = Files.write(dir.resolve("blob"), bytes);
    String digest =
        "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    String missing = "sha256:" + "ab".repeat(32);
    Path htpasswd = dir.resolve("htpasswd");
    Mounts.run(List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD), null);
    Path daemonDir = dir.resolve("d");
    List<String> logLines = new ArrayList<>();
    Handler capture = Fixture.logCapture(logLines);
    Logger.getLogger("").addHandler(capture);
    try (RegistryProcess registry =
        new RegistryProcess(dir.resolve("reg"), LocalRegistry.freePort(), htpasswd).start()) {
      String basic = Fixture.basicAuth("alice", PASSWORD);
      for (String repo : List.of("auth/ok", "auth/bad", "auth/none")) {
        TestImages.push(registry.url(), repo, blob, digest, basic);
      }
      String host = registry.url().getAuthority();
      Files.createDirectories(daemonDir);
      Files.writeString(
          daemonDir.resolve("cred.json"),
          "{\"auths\":{\""
              + host
              + "/auth/ok\":{\"username\":\"alice\",\"password\":\""
              + PASSWORD
              + "\"},\""
              + host
              + "/auth/bad\":{\"username\":\"alice\",\"password\":\"wrong-"
              + PASSWORD
              + "\"}}}");
      BackstoreDaemon daemon =
          BackstoreDaemon.start(
              Fixture.readConfig(
                  Fixture.daemonConfig(
                      daemonDir, Map.of("timeouts", Map.of("readDeadlineMs", 2000)))));
      try {
        BackstoreClient client = Fixture.client(daemonDir);
        String url = registry.url() + "/v2/";
        client.checkBlob(url + "auth/ok/blobs", digest, bytes.length, DEADLINE);

        assertThatThrownBy(
                () -> client.checkBlob(url + "auth/bad/blobs", digest, bytes.length, DEADLINE))
            .isInstanceOf(BlobAccessDeniedException.class)
            .hasMessageContaining("registry answered 401")
            .hasMessageContaining("authentication failed for user 'alice'")
            .hasMessageNotContaining(PASSWORD);
        assertThatThrownBy(
                () -> client.checkBlob(url + "auth/none/blobs", digest, bytes.length, DEADLINE))
            .isInstanceOf(BlobAccessDeniedException.class)
            .hasMessageContaining("no credentials are configured for " + host + "/auth/none");

        assertThatThrownBy(
                () -> client.checkBlob(url + "auth/ok/blobs", missing, bytes.length, DEADLINE))
            .isInstanceOf(BlobNotFoundException.class)
            .hasMessageContaining("registry answered 404");
        assertThatThrownBy(
                () -> client.checkBlob(url + "auth/ok/blobs", digest, bytes.length + 1, DEADLINE))
            .isInstanceOf(BlobNotFoundException.class)
            .hasMessageContaining("registry has " + bytes.length + " bytes");

        String nobody = "http://127.0.0.1:" + LocalRegistry.freePort() + "/v2/auth/ok/blobs";
        assertThatThrownBy(() -> client.checkBlob(nobody, digest, bytes.length, DEADLINE))
            .isInstanceOf(RegistryUnreachableException.class)
            .hasMessageContaining("cannot connect");
      } finally {
        daemon.close();
        Fixture.forceCleanup(daemonDir.resolve("run"));
        Logger.getLogger("").removeHandler(capture);
      }
      String encoded =
          Base64.getEncoder()
              .encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
      synchronized (logLines) {
        assertThat(logLines).noneMatch(l -> l.contains(PASSWORD) || l.contains(encoded));
      }
    }
  }
}
