package dev.obd.backstore.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.testsupport.CannedHttpServer;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the client turns the daemon's answers into typed exceptions (a canned server; no root). */
class BackstoreClientTest {
  private static final Duration DEADLINE = Duration.ofSeconds(10);

  @TempDir Path dir;

  @Test
  void eachErrorStatusOfTheDaemonHasItsType() {
    assertThat(BackstoreClient.refusal(400, "bad")).isInstanceOf(InvalidRequestException.class);
    assertThat(BackstoreClient.refusal(404, "gone")).isInstanceOf(DeviceNotFoundException.class);
    assertThat(BackstoreClient.refusal(409, "busy")).isInstanceOf(DeviceInUseException.class);
    assertThat(BackstoreClient.refusal(500, "failed"))
        .isInstanceOf(BackstoreFailedException.class)
        .hasMessage("failed");
    assertThat(BackstoreClient.refusal(502, "odd")).isInstanceOf(BackstoreFailedException.class);
  }

  @Test
  void theDaemonsReasonBecomesTheMessageOfTheTypedException() throws Exception {
    Path socket = dir.resolve("backstore.sock");
    try (CannedHttpServer daemon =
        CannedHttpServer.start(
            socket, 404, "{\"error\":\"no device for 'x' (id, device or config path)\"}")) {
      BackstoreClient client = new BackstoreClient(socket);
      assertThatThrownBy(() -> client.remove("x", DEADLINE))
          .isInstanceOf(DeviceNotFoundException.class)
          .hasMessage("no device for 'x' (id, device or config path)");

      daemon.answer(409, "{\"error\":\"remove device /dev/nbd0: in use\"}");
      assertThatThrownBy(() -> client.remove("x", DEADLINE))
          .isInstanceOf(DeviceInUseException.class)
          .hasMessage("remove device /dev/nbd0: in use");

      daemon.answer(500, "{\"error\":\"attach device for config /x: registry answered 401\"}");
      assertThatThrownBy(() -> client.add(Path.of("/x"), DEADLINE))
          .isInstanceOf(BackstoreFailedException.class)
          .hasMessage("attach device for config /x: registry answered 401");

      daemon.answer(200, "not json");
      assertThatThrownBy(() -> client.list(DEADLINE))
          .isInstanceOf(BackstoreFailedException.class)
          .hasMessageStartingWith("unreadable answer from obd-backstore: ");
      assertThat(BackstoreClient.answers(socket)).isTrue();
    }
  }

  @Test
  void theBlobChecksStatusesHaveTheirOwnTypes() throws Exception {
    assertThat(BackstoreClient.refusal(BackstoreClient.Endpoint.BLOBS, 403, "denied"))
        .isInstanceOf(BlobAccessDeniedException.class);
    assertThat(BackstoreClient.refusal(BackstoreClient.Endpoint.BLOBS, 404, "missing"))
        .isInstanceOf(BlobNotFoundException.class);
    assertThat(BackstoreClient.refusal(BackstoreClient.Endpoint.BLOBS, 503, "down"))
        .isInstanceOf(RegistryUnreachableException.class);
    assertThat(BackstoreClient.refusal(BackstoreClient.Endpoint.BLOBS, 400, "bad"))
        .isInstanceOf(InvalidRequestException.class);
    assertThat(BackstoreClient.refusal(503, "a device endpoint's 503"))
        .isInstanceOf(BackstoreFailedException.class);
    Path socket = dir.resolve("backstore.sock");
    String url = "https://r.example/v2/a/blobs";
    String digest = "sha256:" + "0".repeat(64);
    try (CannedHttpServer daemon =
        CannedHttpServer.start(socket, 200, "{\"digest\":\"" + digest + "\",\"readable\":true}")) {
      BackstoreClient client = new BackstoreClient(socket);
      client.checkBlob(url, digest, 10, DEADLINE);
      assertThat(daemon.requests()).containsExactly("POST /v1/blobs/check HTTP/1.1");
      daemon.answer(403, "{\"error\":\"check blob: registry answered 401 (user 'alice')\"}");
      assertThatThrownBy(() -> client.checkBlob(url, digest, 10, DEADLINE))
          .isInstanceOf(BlobAccessDeniedException.class)
          .hasMessage("check blob: registry answered 401 (user 'alice')");
      daemon.answer(404, "{\"error\":\"no such blob\"}");
      assertThatThrownBy(() -> client.checkBlob(url, digest, 10, DEADLINE))
          .isInstanceOf(BlobNotFoundException.class);
    }
  }

  @Test
  void noDaemonOnTheSocketIsUnavailable() {
    Path socket = dir.resolve("nobody.sock");
    assertThatThrownBy(() -> new BackstoreClient(socket).list(DEADLINE))
        .isInstanceOf(BackstoreUnavailableException.class)
        .hasMessageContaining("obd-backstore unreachable");
    assertThat(BackstoreClient.answers(socket)).isFalse();
  }
}
