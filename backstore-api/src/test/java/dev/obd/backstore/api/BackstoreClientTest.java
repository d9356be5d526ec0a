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
  void noDaemonOnTheSocketIsUnavailable() {
    Path socket = dir.resolve("nobody.sock");
    assertThatThrownBy(() -> new BackstoreClient(socket).list(DEADLINE))
        .isInstanceOf(BackstoreUnavailableException.class)
        .hasMessageContaining("obd-backstore unreachable");
    assertThat(BackstoreClient.answers(socket)).isFalse();
  }
}
