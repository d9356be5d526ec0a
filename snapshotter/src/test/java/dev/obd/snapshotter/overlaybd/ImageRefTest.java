package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageRefTest {
  @ParameterizedTest
  @CsvSource({
    "ubuntu,                                   https://registry-1.docker.io/v2/library/ubuntu/blobs",
    "docker.io/overlaybd/redis:6.2.1_obd,     https://registry-1.docker.io/v2/overlaybd/redis/blobs",
    "user/app:tag,                             https://registry-1.docker.io/v2/user/app/blobs",
    "127.0.0.1:5000/hello:amd64-converted,     https://127.0.0.1:5000/v2/hello/blobs",
    "localhost/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, https://localhost/v2/team/app/blobs",
    "registry.example.com/a/b/c:1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef, https://registry.example.com/v2/a/b/c/blobs",
    "[::1]:5000/x:y,                           https://[::1]:5000/v2/x/blobs",
  })
  void blobUrlsAreBuiltAsUpstreamBuildsThem(String ref, String url) {
    assertThat(ImageRef.parse("l", ref).blobUrl(false)).isEqualTo(url);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "UPPER/case",
        "host.com/../../etc/passwd",
        "host.com/app?x=1",
        "host.com/app#frag",
        "host.com/ app",
        "app:bad tag",
        "app@sha256:short",
        "host.com:99999999/app",
        "evil.com/app/",
        "//app",
      })
  void anythingButAReferenceIsAnInvalidArgumentNamingTheLabel(String ref) {
    assertThatThrownBy(() -> ImageRef.parse("containerd.io/snapshot/image-ref", ref))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("containerd.io/snapshot/image-ref");
  }

  @ParameterizedTest
  @CsvSource({"127.0.0.1:5000/hello,http://127.0.0.1:5000/v2/hello/blobs"})
  void aMirrorMarkedInsecureIsReachedOverHttp(String ref, String url) {
    assertThat(ImageRef.parse("l", ref).blobUrl(true)).isEqualTo(url);
  }
}
