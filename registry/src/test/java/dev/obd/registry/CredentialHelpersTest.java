package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Docker credential helpers named by a docker config.json, run for real: small shell scripts put on
 * the search path the store is given (the daemon's PATH in production).
 */
class CredentialHelpersTest {
  private static final String DIGEST = "sha256:" + "ab".repeat(32);
  private static final String SECRET = "helper-Secret-9f3";

  @TempDir Path dir;
  private Path bin;
  private Path docker;
  private Path calls;

  @BeforeEach
  void helpers() throws Exception {
    bin = Files.createDirectories(dir.resolve("bin"));
    calls = dir.resolve("calls.log");
    docker = dir.resolve("config.json");
    // answers for reg.io; "credentials not found" for anything else, as docker's helpers do
    helper(
        "fake",
        "url=$(cat)",
        "echo \"$url\" >> " + calls,
        "case \"$url\" in",
        "  reg.io) printf '{\"ServerURL\":\"reg.io\",\"Username\":\"alice\",\"Secret\":\"%s\"}'"
            + " '"
            + SECRET
            + "' ;;",
        "  tok.io) printf '{\"ServerURL\":\"tok.io\",\"Username\":\"<token>\",\"Secret\":\"id-"
            + SECRET
            + "\"}' ;;",
        "  *) echo 'credentials not found in native keychain'; exit 1 ;;",
        "esac");
    helper("broken", "cat >/dev/null", "echo 'keychain locked: run unlock first' >&2", "exit 3");
    helper("garbled", "cat >/dev/null", "echo 'Secret=" + SECRET + "'");
    helper("slow", "exec sleep 30");
  }

  private void helper(String name, String... lines) throws Exception {
    Path p = bin.resolve("docker-credential-" + name);
    Files.writeString(p, "#!/bin/sh\n" + String.join("\n", lines) + "\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private CredentialStore store(String dockerConfig) throws Exception {
    Files.writeString(docker, dockerConfig);
    return new CredentialStore(
        List.of(dir.resolve("cred.json"), docker),
        new CredentialHelpers(bin + ":" + System.getenv("PATH"), Duration.ofMillis(1500)));
  }

  private static BlobUrl blob(String host) {
    return BlobUrl.of("https://" + host + "/v2/team/app/blobs", DIGEST);
  }

  @Test
  void aRegistrysCredHelperIsRunWithTheHostOnStdinAndItsAnswerIsCached() throws Exception {
    CredentialStore s = store("{\"credHelpers\":{\"reg.io\":\"fake\"}}");
    assertThat(s.lookup(blob("reg.io")))
        .hasValueSatisfying(
            c -> {
              assertThat(c.username()).isEqualTo("alice");
              assertThat(c.password()).isEqualTo(SECRET);
            });
    assertThat(s.lookup(blob("reg.io"))).isPresent();
    assertThat(Files.readAllLines(calls)).as("one run, then the cache").containsExactly("reg.io");
    assertThat(s.lookup(blob("other.io"))).as("a helper only for its registry").isEmpty();
  }

  @Test
  void credsStoreIsTheDefaultHelperAndNotFoundFallsBackToAuths() throws Exception {
    CredentialStore s =
        store("{\"credsStore\":\"fake\",\"auths\":{\"other.io\":{\"auth\":\"dTpw\"}}}"); // u:p
    assertThat(s.lookup(blob("reg.io")))
        .hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("alice"));
    assertThat(s.lookup(blob("other.io")))
        .hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("u"));
    assertThat(s.lookup(blob("none.io"))).isEmpty();
    assertThat(Files.readAllLines(calls)).containsExactly("reg.io", "other.io", "none.io");
  }

  @Test
  void dockerHubIsAskedForByItsIndexUrlAndTheTokenUserMeansAnIdentityToken() throws Exception {
    CredentialStore s = store("{\"credHelpers\":{\"docker.io\":\"fake\",\"tok.io\":\"fake\"}}");
    assertThat(s.lookup(blob("registry-1.docker.io"))).isEmpty();
    assertThat(Files.readAllLines(calls)).containsExactly("https://index.docker.io/v1/");
    Credentials id = s.lookup(blob("tok.io")).orElseThrow();
    assertThat(id.isIdentityToken()).isTrue();
    assertThat(id.password()).isEqualTo("id-" + SECRET);
    assertThat(id.toString()).doesNotContain(SECRET);
    assertThat(id.describe()).isEqualTo("an identity token");
  }

  @Test
  void aFailingHelpersStderrIsInTheErrorAndItsStdoutNeverIs() throws Exception {
    assertThatThrownBy(() -> store("{\"credsStore\":\"broken\"}").lookup(blob("reg.io")))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessage(
            "credential helper docker-credential-broken get reg.io: exit status 3: keychain"
                + " locked: run unlock first");
    assertThatThrownBy(() -> store("{\"credsStore\":\"garbled\"}").lookup(blob("reg.io")))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessageEndingWith("its answer is not JSON")
        .hasMessageNotContaining(SECRET);
  }

  @Test
  void aHelperNameMustBeAPlainNameNeverAPath() throws Exception {
    for (String bad : List.of("../../bin/sh", "/bin/sh", "fake;id", "a b")) {
      assertThatThrownBy(
              () -> store("{\"credHelpers\":{\"reg.io\":\"" + bad + "\"}}").lookup(blob("reg.io")))
          .as(bad)
          .isInstanceOf(RegistryDeniedException.class)
          .hasMessageContaining("is not a plain name");
    }
    assertThat(calls).doesNotExist();
    assertThatThrownBy(() -> store("{\"credsStore\":\"absent\"}").lookup(blob("reg.io")))
        .isInstanceOf(RegistryDeniedException.class)
        .hasMessageContaining("docker-credential-absent get reg.io: not found on the search path");
  }

  @Test
  void aHelperThatDoesNotAnswerIsKilledAtTheDeadline() throws Exception {
    CredentialStore s = store("{\"credsStore\":\"slow\"}");
    long start = System.nanoTime();
    assertThatThrownBy(() -> s.lookup(blob("reg.io")))
        .isInstanceOf(RegistryUnavailableException.class)
        .hasMessage(
            "credential helper docker-credential-slow get reg.io: no answer within 1500 ms");
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
  }
}
