package dev.obd.backstore.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DaemonInfo;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.RegistryCredential;
import dev.obd.backstore.device.DeviceException;
import dev.obd.backstore.device.DeviceFailures;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control API's error answers on the wire: each failure of the device core becomes the status
 * and body clients have always received. A backend double stands in for the daemon (no root).
 */
class ControlServerTest {
  private static final String SECRET = "s3cr3t-never-shown";

  @TempDir Path dir;
  private ControlServer server;
  private Path socket;

  /** Fails every device call with the exception the test's device core raises. */
  private final Backend backend = new Backend();

  @BeforeEach
  void start() throws IOException {
    socket = dir.resolve("backstore.sock");
    server = ControlServer.start(socket, backend);
  }

  @AfterEach
  void stop() {
    server.close();
  }

  @Test
  void aConfigThatCannotBeReadIsABadRequest() throws Exception {
    backend.failure = DeviceFailures.badConfig("attach device for config /x/config.v1.json: bad");
    assertThat(call("POST", "/v1/devices", "{\"config\":\"/x/config.v1.json\"}"))
        .isEqualTo(answer(400, "{\"error\":\"attach device for config /x/config.v1.json: bad\"}"));
  }

  @Test
  void anUnknownDeviceIsNotFound() throws Exception {
    backend.failure = DeviceFailures.noSuchDevice("no device for 'd1' (id, device or config path)");
    assertThat(call("GET", "/v1/devices?key=d1", null))
        .isEqualTo(answer(404, "{\"error\":\"no device for 'd1' (id, device or config path)\"}"));
    assertThat(call("DELETE", "/v1/devices/d1", null)).startsWith("HTTP/1.1 404 ");
  }

  @Test
  void aDeviceInUseIsAConflict() throws Exception {
    backend.failure = DeviceFailures.busy("remove device /dev/nbd0: the device is in use");
    assertThat(call("DELETE", "/v1/devices?key=d1", null))
        .isEqualTo(answer(409, "{\"error\":\"remove device /dev/nbd0: the device is in use\"}"));
  }

  @Test
  void aFailedAttachIsAnInternalErrorWithTheReason() throws Exception {
    backend.failure = DeviceFailures.failed("attach device for config /x: registry answered 401");
    assertThat(call("POST", "/v1/devices", "{\"config\":\"/x\"}"))
        .isEqualTo(
            answer(500, "{\"error\":\"attach device for config /x: registry answered 401\"}"));
  }

  @Test
  void malformedRequestsAreRefusedByTheServerItself() throws Exception {
    assertThat(call("POST", "/v1/devices", "not json"))
        .isEqualTo(answer(400, "{\"error\":\"add device: request body is not JSON\"}"));
    assertThat(call("POST", "/v1/devices", "{\"config\":\"relative\"}"))
        .isEqualTo(
            answer(400, "{\"error\":\"add device: \\\"config\\\" must be an absolute path\"}"));
    assertThat(call("PUT", "/v1/nothing", null))
        .isEqualTo(answer(404, "{\"error\":\"no such endpoint: PUT /v1/nothing\"}"));
  }

  private static final String BLOB =
      "{\"repoBlobUrl\":\"https://r.example/v2/a/b/blobs\",\"digest\":\"sha256:"
          + "0".repeat(64)
          + "\",\"size\":10}";

  @Test
  void aReadableBlobIsOkAndAnUnreadableOneHasItsKindsStatusAndTheRegistrysAnswer()
      throws Exception {
    assertThat(call("POST", "/v1/blobs/check", BLOB))
        .startsWith("HTTP/1.1 200 ")
        .contains("\"readable\":true");
    backend.failure = DeviceFailures.blobDenied("check blob: registry answered 401 (x)");
    assertThat(call("POST", "/v1/blobs/check", BLOB))
        .isEqualTo(answer(403, "{\"error\":\"check blob: registry answered 401 (x)\"}"));
    backend.failure = DeviceFailures.noSuchBlob("check blob: registry answered 404");
    assertThat(call("POST", "/v1/blobs/check", BLOB)).startsWith("HTTP/1.1 404 ");
    backend.failure = DeviceFailures.blobUnreachable("check blob: gave up");
    assertThat(call("POST", "/v1/blobs/check", BLOB)).startsWith("HTTP/1.1 503 ");
    assertThat(call("POST", "/v1/blobs/check", "{\"digest\":\"x\"}")).startsWith("HTTP/1.1 400 ");
  }

  @Test
  void everyKindOfDeviceFailureHasItsStatus() {
    assertThat(ControlServer.statusOf(DeviceFailures.badConfig("x")).code()).isEqualTo(400);
    assertThat(ControlServer.statusOf(DeviceFailures.noSuchDevice("x")).code()).isEqualTo(404);
    assertThat(ControlServer.statusOf(DeviceFailures.busy("x")).code()).isEqualTo(409);
    assertThat(ControlServer.statusOf(DeviceFailures.failed("x")).code()).isEqualTo(500);
    assertThat(ControlServer.statusOf(DeviceFailures.blobDenied("x")).code()).isEqualTo(403);
    assertThat(ControlServer.statusOf(DeviceFailures.noSuchBlob("x")).code()).isEqualTo(404);
    assertThat(ControlServer.statusOf(DeviceFailures.blobUnreachable("x")).code()).isEqualTo(503);
  }

  private static String answer(int status, String json) {
    return "HTTP/1.1 " + status + " " + json;
  }

  @Test
  void credentialsPutByTheClientReachTheDaemonWithTheirExpiry() throws Exception {
    Instant expires = Instant.ofEpochMilli(1_900_000_000_000L);
    new BackstoreClient(socket)
        .putCredentials(
            new RegistryCredential(
                "registry.example.com:5000", "team/app", "alice", SECRET, false, expires),
            Duration.ofSeconds(10));
    new BackstoreClient(socket)
        .putCredentials(
            new RegistryCredential("registry-1.docker.io", "library/x", "", SECRET, true, expires),
            Duration.ofSeconds(10));

    assertThat(backend.pushed)
        .containsExactly(
            new RegistryCredential(
                "registry.example.com:5000", "team/app", "alice", SECRET, false, expires),
            new RegistryCredential("registry-1.docker.io", "library/x", "", SECRET, true, expires));
    assertThat(backend.pushed.toString()).doesNotContain(SECRET).contains("<hidden>");
  }

  @Test
  void malformedCredentialsAreABadRequestThatNeverQuotesTheBody() throws Exception {
    String notJson = "{\"password\": \"" + SECRET + "\" oops";
    assertThat(call("PUT", "/v1/credentials", notJson))
        .isEqualTo(answer(400, "{\"error\":\"put credentials: request body is not JSON\"}"));
    String noExpiry =
        "{\"host\":\"r.example\",\"repository\":\"a\",\"username\":\"u\",\"password\":\""
            + SECRET
            + "\"}";
    assertThat(call("PUT", "/v1/credentials", noExpiry))
        .startsWith("HTTP/1.1 400 ")
        .contains("expiresAt")
        .doesNotContain(SECRET);
    String badHost =
        "{\"host\":\"r.example/x\",\"repository\":\"a\",\"username\":\"u\",\"password\":\""
            + SECRET
            + "\",\"expiresAt\":1}";
    assertThat(call("PUT", "/v1/credentials", badHost))
        .startsWith("HTTP/1.1 400 ")
        .contains("host must be host[:port]")
        .doesNotContain(SECRET);
    assertThatCode(
            () ->
                new BackstoreClient(socket)
                    .putCredentials(
                        new RegistryCredential("r.example", "a", "u", SECRET, false, Instant.now()),
                        Duration.ofSeconds(10)))
        .as("a well-formed push is accepted")
        .doesNotThrowAnyException();
    assertThat(backend.pushed).hasSize(1);
  }

  @Test
  void theControlSocketIsForRootOnly() throws Exception {
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)))
        .isEqualTo("rw-------");
  }

  @Test
  void theDaemonSaysWhichRunOfItAnswers() throws Exception {
    assertThat(new BackstoreClient(socket).info(Duration.ofSeconds(10)).instance())
        .isEqualTo("42@1700000000000");
  }

  /** "HTTP/1.1 &lt;status&gt; &lt;body&gt;" of one request, as the bytes came. */
  private String call(String method, String path, String body) throws IOException {
    String content = body == null ? "" : body;
    String request =
        String.format(
            "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
            method, path, content.getBytes(StandardCharsets.UTF_8).length, content);
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      Channels.newOutputStream(ch).write(request.getBytes(StandardCharsets.UTF_8));
      String answer =
          new String(Channels.newInputStream(ch).readAllBytes(), StandardCharsets.UTF_8);
      return answer.substring(0, 12) + " " + answer.substring(answer.indexOf("\r\n\r\n") + 4);
    }
  }

  private static final class Backend implements ControlServer.Backend {
    volatile DeviceException failure;
    final List<RegistryCredential> pushed = new CopyOnWriteArrayList<>();

    @Override
    public DeviceInfo add(Path config) throws DeviceException {
      throw failure;
    }

    @Override
    public void remove(String key) throws DeviceException {
      throw failure;
    }

    @Override
    public DeviceInfo get(String key) throws DeviceException {
      throw failure;
    }

    @Override
    public List<DeviceInfo> list() {
      return List.of();
    }

    @Override
    public void checkBlob(String repoBlobUrl, String digest, long size) throws DeviceException {
      if (failure != null) {
        throw failure;
      }
    }

    @Override
    public DaemonInfo info() {
      return new DaemonInfo("nbd", 0, 0, 0, 0, 0, 0, 0, 0, 42, 1_700_000_000_000L);
    }

    @Override
    public void putCredentials(RegistryCredential credential) {
      pushed.add(credential);
    }
  }
}
