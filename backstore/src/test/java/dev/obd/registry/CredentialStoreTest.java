package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CredentialStoreTest {
  @TempDir Path dir;

  private static final String DIGEST = "sha256:" + "ab".repeat(32);

  @Test
  void theFirstEntryMatchingHostOrARepositoryPrefixWinsAsUpstreamMatches() throws Exception {
    Path cred = dir.resolve("cred.json");
    Files.writeString(
        cred,
        "{\"auths\":{"
            + "\"other.io\":{\"username\":\"x\",\"password\":\"x\"},"
            + "\"reg.io/team\":{\"username\":\"team\",\"password\":\"t\"},"
            + "\"reg.io\":{\"auth\":\"aG9zdDpo\"}}}"); // host:h
    CredentialStore s = new CredentialStore(cred, dir.resolve("none.json"));
    assertThat(s.lookup(BlobUrl.of("https://reg.io/v2/team/app/blobs", DIGEST)))
        .hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("team"));
    assertThat(s.lookup(BlobUrl.of("https://reg.io/v2/other/app/blobs", DIGEST)))
        .hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("host"));
    assertThat(s.lookup(BlobUrl.of("https://nowhere.io/v2/a/blobs", DIGEST))).isEmpty();
  }

  @Test
  void dockerConfigKeysWithSchemeAndVersionSuffixMatchAndFilesAreReReadWhenTheyChange()
      throws Exception {
    Path docker = dir.resolve("config.json");
    CredentialStore s = new CredentialStore(dir.resolve("cred.json"), docker);
    BlobUrl hub = BlobUrl.of("https://registry-1.docker.io/v2/library/redis/blobs", DIGEST);
    assertThat(s.lookup(hub)).isEmpty();
    Files.writeString(
        docker, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dTpw\"}}}"); // u:p
    assertThat(s.lookup(hub)).hasValueSatisfying(c -> assertThat(c.password()).isEqualTo("p"));
  }

  @Test
  void credentialsNeverShowTheirSecretWhenPrinted() {
    assertThat(new Credentials("alice", "hunter2").toString())
        .contains("alice")
        .doesNotContain("hunter2");
  }

  @Test
  void blobUrlsMustLookLikeRegistryBlobUrls() {
    BlobUrl b = BlobUrl.of("http://127.0.0.1:5000/v2/a/b/blobs/", DIGEST);
    assertThat(b.host()).isEqualTo("127.0.0.1:5000");
    assertThat(b.repository()).isEqualTo("a/b");
    org.assertj.core.api.Assertions.assertThatThrownBy(
            () -> BlobUrl.of("ftp://x/v2/a/blobs", DIGEST))
        .hasMessageContaining("http(s)");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlobUrl.of("", DIGEST))
        .hasMessageContaining("repoBlobUrl is empty");
  }
}
