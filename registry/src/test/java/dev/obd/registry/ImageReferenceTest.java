package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ImageReferenceTest {
  private static final String DIGEST = "sha256:" + "0123456789abcdef".repeat(4);

  @Test
  void dockerHubNamesGetTheLibraryPrefixTheApiHostAndLatest() {
    ImageReference r = ImageReference.parse("redis");
    assertThat(r).isEqualTo(new ImageReference("docker.io", "library/redis", "latest", ""));
    assertThat(r.apiHost()).isEqualTo("registry-1.docker.io");
    assertThat(ImageReference.parse("index.docker.io/bitnami/redis:7").toString())
        .isEqualTo("docker.io/bitnami/redis:7");
    assertThat(ImageReference.parse("nvidia/cuda:12.4.1-runtime-ubuntu22.04").repository())
        .isEqualTo("nvidia/cuda");
  }

  @Test
  void theFirstComponentIsAHostOnlyWithADotAColonOrAsLocalhost() {
    assertThat(ImageReference.parse("localhost:5000/team/app:v1"))
        .isEqualTo(new ImageReference("localhost:5000", "team/app", "v1", ""));
    assertThat(ImageReference.parse("localhost/app").host()).isEqualTo("localhost");
    assertThat(ImageReference.parse("nvcr.io/nvidia/pytorch:24.05-py3").apiHost())
        .isEqualTo("nvcr.io");
    assertThat(ImageReference.parse("team/app").host()).isEqualTo("docker.io");
  }

  @Test
  void aDigestIsKeptWithOrWithoutATagAndIsWhatTheManifestEndpointNames() {
    ImageReference pinned = ImageReference.parse("reg.io/app@" + DIGEST);
    assertThat(pinned.tag()).isEmpty();
    assertThat(pinned.reference()).isEqualTo(DIGEST);
    ImageReference both = ImageReference.parse("reg.io/app:v2@" + DIGEST);
    assertThat(both.tag()).isEqualTo("v2");
    assertThat(both.reference()).isEqualTo(DIGEST);
    assertThat(both.toString()).isEqualTo("reg.io/app:v2@" + DIGEST);
    assertThat(both.withTag("v3").toString()).isEqualTo("reg.io/app:v3");
  }

  @Test
  void malformedReferencesAreRefusedWithTheReason() {
    assertThatThrownBy(() -> ImageReference.parse("reg.io/Team/App:v1"))
        .hasMessageContaining("is not a repository name");
    assertThatThrownBy(() -> ImageReference.parse("reg.io/app:-v1"))
        .hasMessageContaining("is not a tag");
    assertThatThrownBy(() -> ImageReference.parse("reg.io/app@sha256:abc"))
        .hasMessageContaining("is not a sha256 digest");
    assertThatThrownBy(() -> ImageReference.parse("reg.io/app/../etc:v1"))
        .hasMessageContaining("is not a repository name");
    assertThatThrownBy(() -> ImageReference.parse("bad_host.io:x/app:v1"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("bad_host.io:x/app:v1");
    assertThatThrownBy(() -> ImageReference.parse("")).isInstanceOf(IllegalArgumentException.class);
  }
}
