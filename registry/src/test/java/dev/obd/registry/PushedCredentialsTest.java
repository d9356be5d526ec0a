package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Which blobs pushed credentials answer for, and for how long. */
class PushedCredentialsTest {
  private static final String DIGEST = "sha256:" + "a".repeat(64);
  private final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));

  private static BlobUrl blob(String repoBlobUrl) {
    return BlobUrl.of(repoBlobUrl, DIGEST);
  }

  @Test
  void credentialsAnswerForExactlyTheirHostAndRepository() {
    PushedCredentials pushed = new PushedCredentials(10, clock);
    pushed.put(
        "reg.example:5000", "team/app", "alice", "pw", false, clock.instant().plusSeconds(60));

    assertThat(pushed.lookup(blob("https://reg.example:5000/v2/team/app/blobs")))
        .contains(new Credentials("alice", "pw"));
    assertThat(pushed.lookup(blob("https://reg.example:5000/v2/team/app2/blobs"))).isEmpty();
    assertThat(pushed.lookup(blob("https://reg.example:5000/v2/team/app/sub/blobs"))).isEmpty();
    assertThat(pushed.lookup(blob("https://reg.example/v2/team/app/blobs"))).isEmpty();
  }

  @Test
  void dockerHubsNamesAllMeanItsBlobHost() {
    PushedCredentials pushed = new PushedCredentials(10, clock);
    pushed.put("docker.io", "library/x", "bob", "pw", false, clock.instant().plusSeconds(60));

    assertThat(pushed.lookup(blob("https://registry-1.docker.io/v2/library/x/blobs")))
        .contains(new Credentials("bob", "pw"));
  }

  @Test
  void anIdentityTokenIsKeptAsOne() {
    PushedCredentials pushed = new PushedCredentials(10, clock);
    pushed.put("reg.example", "a", "", "refresh-token", true, clock.instant().plusSeconds(60));

    Optional<Credentials> c = pushed.lookup(blob("https://reg.example/v2/a/blobs"));
    assertThat(c).isPresent();
    assertThat(c.get().isIdentityToken()).isTrue();
    assertThat(c.get().toString()).doesNotContain("refresh-token");
  }

  @Test
  void credentialsAreForgottenWhenTheyExpireAndRenewedByAPushAgain() {
    PushedCredentials pushed = new PushedCredentials(10, clock);
    BlobUrl b = blob("https://reg.example/v2/a/blobs");
    pushed.put("reg.example", "a", "u", "old", false, clock.instant().plusSeconds(60));
    clock.advance(Duration.ofSeconds(59));
    assertThat(pushed.lookup(b)).contains(new Credentials("u", "old"));
    pushed.put("reg.example", "a", "u", "new", false, clock.instant().plusSeconds(60));
    clock.advance(Duration.ofSeconds(59));
    assertThat(pushed.lookup(b)).contains(new Credentials("u", "new"));
    clock.advance(Duration.ofSeconds(1));
    assertThat(pushed.lookup(b)).isEmpty();
    assertThat(pushed.size()).isZero();
  }

  @Test
  void beyondTheBoundTheRepositoryKeptLongestWithoutRenewalGoes() {
    PushedCredentials pushed = new PushedCredentials(2, clock);
    Instant later = clock.instant().plusSeconds(60);
    pushed.put("r", "a", "u", "1", false, later);
    pushed.put("r", "b", "u", "2", false, later);
    pushed.put("r", "a", "u", "1b", false, later);
    pushed.put("r", "c", "u", "3", false, later);

    assertThat(pushed.size()).isEqualTo(2);
    assertThat(pushed.lookup(blob("https://r/v2/b/blobs"))).isEmpty();
    assertThat(pushed.lookup(blob("https://r/v2/a/blobs"))).contains(new Credentials("u", "1b"));
    assertThat(pushed.lookup(blob("https://r/v2/c/blobs"))).contains(new Credentials("u", "3"));
  }

  private static final class MutableClock extends Clock {
    private Instant now;

    MutableClock(Instant now) {
      this.now = now;
    }

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }
}
