package dev.obd.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.obd.testsupport.Mounts;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
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
  void unusableCredentialFilesAreSkippedWithOneLineNamingThemAndNeverTheirContent()
      throws Exception {
    Path fifo = dir.resolve("cred.json");
    Mounts.run(List.of("mkfifo", fifo.toString()), null);
    Path docker = dir.resolve("config.json");
    BlobUrl blob = BlobUrl.of("https://reg.io/v2/team/app/blobs", DIGEST);
    List<String> warnings = new ArrayList<>();
    Handler h =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            warnings.add(r.getMessage());
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    Logger log = Logger.getLogger(CredentialStore.class.getName());
    log.addHandler(h);
    try {
      CredentialStore s = new CredentialStore(fifo, docker);
      // a FIFO does not block the lookup (it runs on a data-plane read thread)
      assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThat(s.lookup(blob)).isEmpty());
      assertThat(warnings)
          .containsExactly("ignoring credential file " + fifo + ": not a regular file but a FIFO");

      try (RandomAccessFile f = new RandomAccessFile(docker.toFile(), "rw")) {
        f.setLength(50L << 20);
      }
      assertThat(s.lookup(blob)).isEmpty();
      assertThat(warnings.get(warnings.size() - 1))
          .isEqualTo(
              "ignoring credential file "
                  + docker
                  + ": 52428800 bytes, larger than the 1048576 bytes a configuration file may have");

      Files.delete(docker);
      Files.writeString(docker, "{\"auths\":" + "[".repeat(5000) + "]".repeat(5000) + "}");
      assertThat(s.lookup(blob)).isEmpty();
      assertThat(warnings.get(warnings.size() - 1))
          .isEqualTo("ignoring credential file " + docker + ": JSON nested deeper than 64 levels");

      Files.writeString(docker, "{\"auths\":{\"reg.io\":{\"auth\": hunter2-secret}}}");
      assertThat(s.lookup(blob)).isEmpty();
      assertThat(warnings.get(warnings.size() - 1))
          .startsWith("ignoring credential file " + docker + ": not valid JSON at line 1, column ");
      assertThat(warnings).noneMatch(w -> w.contains("hunter2")).allMatch(w -> !w.contains("\n"));

      Files.writeString(docker, "{\"auths\":{\"reg.io\":{\"auth\":\"dTpw\"}}}"); // u:p
      assertThat(s.lookup(blob)).hasValueSatisfying(c -> assertThat(c.username()).isEqualTo("u"));
    } finally {
      log.removeHandler(h);
    }
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
