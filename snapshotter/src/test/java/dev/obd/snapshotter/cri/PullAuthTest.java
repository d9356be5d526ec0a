package dev.obd.snapshotter.cri;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.ImageSpec;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.snapshotter.device.PullCredential;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/** Which credentials of a PullImage are kept, and under which repository. */
class PullAuthTest {
  private static final Instant EXPIRES = Instant.parse("2026-01-08T00:00:00Z");
  private static final String SECRET = "pa55:word";

  private static PullAuth.Outcome pull(String image, AuthConfig.Builder auth) {
    PullImageRequest.Builder b =
        PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image));
    if (auth != null) {
      b.setAuth(auth);
    }
    return PullAuth.of(b.build(), EXPIRES);
  }

  private static AuthConfig.Builder alice() {
    return AuthConfig.newBuilder().setUsername("alice").setPassword(SECRET);
  }

  @Test
  void aPrivateRegistrysCredentialsAreKeptForTheImagesRepository() {
    assertThat(pull("reg.example:5000/team/app:1.2", alice()).credential())
        .contains(
            new PullCredential("reg.example:5000", "team/app", "alice", SECRET, false, EXPIRES));
  }

  @Test
  void dockerHubImagesAreKeptUnderTheHostAndRepositoryOfTheirBlobUrls() {
    assertThat(pull("ubuntu", alice()).credential().orElseThrow())
        .extracting(PullCredential::host, PullCredential::repository)
        .containsExactly("registry-1.docker.io", "library/ubuntu");
    assertThat(
            pull("docker.io/bob/tool@sha256:" + "a".repeat(64), alice()).credential().orElseThrow())
        .extracting(PullCredential::host, PullCredential::repository)
        .containsExactly("registry-1.docker.io", "bob/tool");
  }

  @Test
  void aServerAddressOfAnotherRegistryKeepsNothing() {
    PullAuth.Outcome o = pull("reg.example/app", alice().setServerAddress("other.example"));
    assertThat(o.credential()).isEmpty();
    assertThat(o.reason()).contains("other.example").doesNotContain(SECRET);
  }

  @Test
  void serverAddressesAreComparedAsDockerConfigKeysWriteThem() {
    assertThat(pull("ubuntu", alice().setServerAddress("https://index.docker.io/v1/")).credential())
        .isPresent();
    assertThat(
            pull("reg.example:5000/a", alice().setServerAddress("reg.example:5000")).credential())
        .isPresent();
    assertThat(
            pull("reg.example:5000/a", alice().setServerAddress("https://REG.example:5000/v2/"))
                .credential())
        .isPresent();
  }

  @Test
  void theAuthFieldIsBase64OfUserAndPassword() {
    String auth =
        Base64.getEncoder()
            .encodeToString(("bob:" + SECRET + "\0").getBytes(StandardCharsets.UTF_8));
    assertThat(pull("reg.example/a", AuthConfig.newBuilder().setAuth(auth)).credential())
        .contains(new PullCredential("reg.example", "a", "bob", SECRET, false, EXPIRES));
    PullAuth.Outcome bad = pull("reg.example/a", AuthConfig.newBuilder().setAuth("%%" + SECRET));
    assertThat(bad.credential()).isEmpty();
    assertThat(bad.reason()).isEqualTo("its auth field is not base64").doesNotContain(SECRET);
  }

  @Test
  void anIdentityTokenIsKeptAsOne() {
    assertThat(
            pull("reg.example/a", AuthConfig.newBuilder().setIdentityToken("refresh")).credential())
        .contains(new PullCredential("reg.example", "a", "", "refresh", true, EXPIRES));
  }

  @Test
  void noAuthOnlyARegistryTokenOrABadReferenceKeepNothing() {
    assertThat(pull("reg.example/a", null).credential()).isEmpty();
    assertThat(pull("reg.example/a", AuthConfig.newBuilder()).credential()).isEmpty();
    PullAuth.Outcome token = pull("reg.example/a", AuthConfig.newBuilder().setRegistryToken("t"));
    assertThat(token.credential()).isEmpty();
    assertThat(token.reason()).contains("registry token");
    assertThat(pull("Not A Reference", alice()).credential()).isEmpty();
  }
}
