package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceState;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * obd-backstore as systemd runs it ({@code Type=notify}): a separate JVM started with {@code
 * NOTIFY_SOCKET} naming a unix datagram socket of the test, which stands in for systemd's.
 */
class SystemdReadinessTest {
  @TempDir Path dir;

  @Test
  void readyIsSentOnceTheControlSocketServesAfterRecoveryAndStoppingWhenStopped() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Path data = Requirements.requireSharedTestData("hello-world-obd");
    Path blob = data.resolve("blobs/sha256/" + Fixture.HELLO_BLOB.substring(7));
    Path image =
        Fixture.imageConfig(
            dir.resolve("image/config.v1.json"),
            Map.of(
                "repoBlobUrl", "",
                "lowers", List.of(Map.of("file", blob.toString())),
                "upper", Map.of(),
                "resultFile", dir.resolve("image/init-debug.log").toString()));
    Path daemonDir = dir.resolve("d");
    Path config = Fixture.daemonConfig(daemonDir, Map.of());
    BackstoreClient client = Fixture.client(daemonDir);
    Path notify = dir.resolve("notify.sock");
    Map<String, String> env = Map.of("NOTIFY_SOCKET", notify.toString());
    try (UnixDatagramChannel systemd = UnixDatagramChannel.open()) {
      systemd.bind(new UnixSocketAddress(notify.toFile()));
      DeviceInfo added;
      try (ChildProcess first = DaemonProcess.launch(daemonDir, config, "daemon-1.log", env)) {
        assertThat(receive(systemd, first)).startsWith("READY=1\n");
        // bound and accepting when READY=1 arrives: a socket not yet there is refused at once
        // (503); the generous deadline only covers a freshly started JVM on a busy machine
        assertThat(client.info(Duration.ofSeconds(30)).devices()).isZero();
        added = client.add(image, Duration.ofSeconds(30));

        first.signal("TERM");
        assertThat(receive(systemd, first)).isEqualTo("STOPPING=1");
        assertThat(first.awaitExit(Duration.ofSeconds(30))).isZero();
      }
      try (ChildProcess second = DaemonProcess.launch(daemonDir, config, "daemon-2.log", env)) {
        String ready = receive(systemd, second);
        // checked before anything else can happen: recovery was over when READY=1 was sent
        List<DeviceInfo> recovered = client.list(Duration.ofSeconds(30));
        assertThat(ready).startsWith("READY=1\n").contains("STATUS=serving 1 devices");
        assertThat(recovered)
            .singleElement()
            .satisfies(
                d -> {
                  assertThat(d.device()).isEqualTo(added.device());
                  assertThat(d.state()).isEqualTo(DeviceState.ATTACHED);
                });
        client.remove(added.device(), Duration.ofSeconds(30));
        second.signal("TERM");
        assertThat(receive(systemd, second)).isEqualTo("STOPPING=1");
        assertThat(second.awaitExit(Duration.ofSeconds(30))).isZero();
      }
    } finally {
      Fixture.forceCleanup(daemonDir.resolve("run"));
    }
  }

  /** The next datagram, failing with the daemon's log if none comes within a minute. */
  private static String receive(UnixDatagramChannel ch, ChildProcess daemon) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(4096);
    ch.configureBlocking(true);
    ch.socket().setSoTimeout(60_000);
    try {
      ch.receive(buf);
    } catch (IOException e) {
      throw new AssertionError("no sd_notify datagram within 60 s; log:\n" + daemon.logTail(30), e);
    }
    buf.flip();
    if (!buf.hasRemaining()) {
      throw new AssertionError("no sd_notify datagram within 60 s; log:\n" + daemon.logTail(30));
    }
    return StandardCharsets.UTF_8.decode(buf).toString();
  }
}
