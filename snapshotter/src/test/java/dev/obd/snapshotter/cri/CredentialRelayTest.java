package dev.obd.snapshotter.cri;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.ImageSpec;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.snapshotter.device.CredentialPush;
import dev.obd.snapshotter.device.PullCredential;
import dev.obd.snapshotter.errdefs.UnavailableException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

/**
 * The relay hands each pull's credentials to the data plane, and everything it keeps again to a
 * data plane that restarted (so running containers keep reading); a data plane that is down does
 * not fail the pull, and no log line, even at debug level, shows a secret.
 */
class CredentialRelayTest {
  private static final String SECRET = "relay-Pa55";

  /** A data plane whose run and availability the test sets. */
  private static final class DataPlane implements CredentialPush {
    volatile String run = "100@1";
    volatile boolean down;
    final List<String> received = new CopyOnWriteArrayList<>();

    @Override
    public void push(PullCredential c, Duration deadline) {
      if (down) {
        throw new UnavailableException("obd-backstore at /x.sock: unreachable");
      }
      received.add(run + " " + c.repositoryName());
    }

    @Override
    public String instance(Duration deadline) {
      if (down) {
        throw new UnavailableException("obd-backstore at /x.sock: unreachable");
      }
      return run;
    }
  }

  private static byte[] pull(String image) {
    return PullImageRequest.newBuilder()
        .setImage(ImageSpec.newBuilder().setImage(image))
        .setAuth(AuthConfig.newBuilder().setUsername("alice").setPassword(SECRET))
        .build()
        .toByteArray();
  }

  private static CredentialRelay relay(DataPlane plane) {
    // resyncs are driven by the test, not the timer
    return new CredentialRelay(
        Optional.of(plane), Duration.ofHours(1), 16, Duration.ofHours(1), Clock.systemUTC());
  }

  @Test
  void aRestartedDataPlaneIsHandedEverythingKeptAgain() {
    DataPlane plane = new DataPlane();
    try (CredentialRelay relay = relay(plane)) {
      relay.beforePull(pull("reg.example/a:1"));
      relay.beforePull(pull("reg.example/b:1"));
      relay.resync();
      plane.received.clear();
      relay.resync();
      assertThat(plane.received).as("the same run has them all").isEmpty();

      plane.run = "200@2";
      relay.resync();
      assertThat(plane.received).containsExactly("200@2 reg.example/a", "200@2 reg.example/b");
    }
  }

  @Test
  void aDataPlaneThatIsDownFailsNoPullAndGetsTheCredentialsWhenItIsBack() {
    DataPlane plane = new DataPlane();
    try (CredentialRelay relay = relay(plane)) {
      plane.down = true;
      relay.beforePull(pull("reg.example/a:1"));
      assertThat(relay.kept().current()).hasSize(1);
      plane.down = false;
      relay.resync();
      assertThat(plane.received).containsExactly("100@1 reg.example/a");
    }
  }

  @Test
  void theResyncThreadNoticesARestartByItself() throws Exception {
    DataPlane plane = new DataPlane();
    try (CredentialRelay relay =
        new CredentialRelay(
            Optional.of(plane),
            Duration.ofHours(1),
            16,
            Duration.ofMillis(50),
            Clock.systemUTC())) {
      relay.beforePull(pull("reg.example/a:1"));
      plane.run = "300@3";
      long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (!plane.received.contains("300@3 reg.example/a")) {
        assertThat(System.nanoTime()).as("re-pushed within 10 s").isLessThan(end);
        Thread.sleep(20);
      }
    }
  }

  @Test
  void withoutADataPlaneThatTakesCredentialsNothingIsKept() {
    try (CredentialRelay relay =
        new CredentialRelay(
            Optional.empty(), Duration.ofHours(1), 16, Duration.ofHours(1), Clock.systemUTC())) {
      relay.beforePull(pull("reg.example/a:1"));
      assertThat(relay.kept().current()).isEmpty();
    }
  }

  @Test
  void noLogLineShowsTheSecretEvenAtDebugLevel() {
    List<String> lines = new CopyOnWriteArrayList<>();
    Logger log = Logger.getLogger(CredentialRelay.class.getName());
    Level before = log.getLevel();
    Handler capture =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            lines.add(r.getMessage() + " " + r.getThrown());
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    log.setLevel(Level.ALL);
    log.addHandler(capture);
    DataPlane plane = new DataPlane();
    try (CredentialRelay relay = relay(plane)) {
      relay.beforePull(pull("reg.example/a:1"));
      plane.down = true;
      relay.beforePull(pull("reg.example/b:1"));
      relay.beforePull(new byte[] {(byte) 0xff, 1});
      plane.down = false;
      plane.run = "9@9";
      relay.resync();
    } finally {
      log.removeHandler(capture);
      log.setLevel(before);
    }
    assertThat(lines).hasSizeGreaterThanOrEqualTo(3);
    assertThat(String.join("\n", lines)).doesNotContain(SECRET);
  }
}
