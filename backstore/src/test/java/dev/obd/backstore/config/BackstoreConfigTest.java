package dev.obd.backstore.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BackstoreConfigTest {
  @TempDir Path dir;

  @Test
  void missingKeysTakeUpstreamsDefaults() {
    BackstoreConfig c = BackstoreConfig.defaults();
    assertThat(c.cacheConfig().refillSize()).isEqualTo(262144);
    assertThat(c.cacheConfig().cacheSizeBytes()).isEqualTo(4L << 30);
    assertThat(c.credentialFilePath()).isEqualTo("/opt/overlaybd/cred.json");
    assertThat(c.p2pConfig().enable()).isFalse();
    assertThat(c.download()).isEqualTo(DownloadConfig.DEFAULT);
    assertThat(c.attachMode()).isEqualTo("auto");
  }

  @Test
  void unknownKeysAndBadValuesAreRejectedWithTheFileNamed() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(f, "{\"cacheConfig\":{\"refillSize\":1000}}");
    assertThatThrownBy(() -> BackstoreConfig.read(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("refillSize must be a power of two");
    Files.writeString(f, "{\"cachedir\":\"/x\"}");
    assertThatThrownBy(() -> BackstoreConfig.read(f)).hasMessageContaining("cachedir");
    Files.writeString(f, "{\"attachMode\":\"tcmu\"}");
    assertThatThrownBy(() -> BackstoreConfig.read(f)).hasMessageContaining("attachMode");
  }

  @Test
  void helpDocumentsEveryTopLevelKey() {
    String help = BackstoreConfig.describeKeys();
    for (var c : BackstoreConfig.class.getRecordComponents()) {
      assertThat(help).as(c.getName()).contains(c.getName());
    }
  }
}
