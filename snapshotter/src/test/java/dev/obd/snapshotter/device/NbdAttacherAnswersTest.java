package dev.obd.snapshotter.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.testsupport.CannedHttpServer;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@link NbdAttacher} makes of obd-backstore's refusals, against a canned control API (no
 * root, no devices): a device the backstore does not know is detached already; any other refusal
 * fails the detach with the backstore's reason.
 */
class NbdAttacherAnswersTest {
  @TempDir Path dir;

  @Test
  void detachingADeviceTheBackstoreDoesNotKnowSucceeds() throws Exception {
    Path socket = dir.resolve("backstore.sock");
    Path config = dir.resolve("snapshots/7/block/config.v1.json");
    try (CannedHttpServer backstore =
        CannedHttpServer.start(socket, 404, "{\"error\":\"no device for 'x'\"}")) {
      new NbdAttacher(socket, dir.resolve("snapshots")).detach(7, config, Duration.ofSeconds(10));
      assertThat(backstore.requests()).hasSize(1);
      assertThat(backstore.requests().get(0)).startsWith("DELETE /v1/devices?key=");
    }
  }

  @Test
  void aDeviceInUseFailsTheDetachWithTheBackstoresReason() throws Exception {
    Path socket = dir.resolve("backstore.sock");
    Path config = dir.resolve("snapshots/7/block/config.v1.json");
    try (CannedHttpServer backstore =
        CannedHttpServer.start(
            socket, 409, "{\"error\":\"remove device /dev/nbd3: the device is in use\"}")) {
      assertThatThrownBy(
              () ->
                  new NbdAttacher(socket, dir.resolve("snapshots"))
                      .detach(7, config, Duration.ofSeconds(10)))
          .isInstanceOf(AttachException.class)
          .hasMessage(
              "detach nbd device of snapshot 7 (config "
                  + config
                  + "): remove device /dev/nbd3: the device is in use");
      assertThat(backstore.requests()).hasSize(1);
    }
  }
}
