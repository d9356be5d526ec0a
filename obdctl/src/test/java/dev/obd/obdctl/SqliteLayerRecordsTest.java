package dev.obd.obdctl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.convert.LayerRecords.Made;
import dev.obd.image.oci.Digest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SqliteLayerRecordsTest {
  @TempDir Path dir;

  private static Digest d(char c) {
    return Digest.parse("sha256:" + String.valueOf(c).repeat(64));
  }

  @Test
  void recordsSurviveReopeningAndTheTargetsOwnLocationComesFirst() throws Exception {
    Path file = dir.resolve("cache/obdctl/layers.db");
    try (SqliteLayerRecords r = SqliteLayerRecords.open(file)) {
      r.remember(new Made(d('a'), "opts", "reg.io/team/one", d('1'), 100));
      r.remember(new Made(d('a'), "opts", "reg.io/team/two", d('1'), 100));
      r.remember(new Made(d('a'), "other-opts", "reg.io/team/one", d('2'), 200));
      r.remember(new Made(d('b'), "opts", "reg.io/team/one", d('3'), 300));
    }
    assertThat(Files.getPosixFilePermissions(file.getParent()))
        .as("the records' directory is private to the user")
        .isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
    try (SqliteLayerRecords r = SqliteLayerRecords.open(file)) {
      assertThat(r.find(d('a'), "opts", "reg.io/team/two"))
          .extracting(Made::location)
          .containsExactly("reg.io/team/two", "reg.io/team/one");
      assertThat(r.find(d('a'), "other-opts", "x"))
          .extracting(Made::digest)
          .containsExactly(d('2'));
      assertThat(r.find(d('c'), "opts", "x")).isEmpty();
      // a layer made again for the same place replaces the record
      r.remember(new Made(d('b'), "opts", "reg.io/team/one", d('4'), 400));
      assertThat(r.find(d('b'), "opts", "x"))
          .singleElement()
          .satisfies(m -> assertThat(m.digest()).isEqualTo(d('4')))
          .satisfies(m -> assertThat(m.size()).isEqualTo(400));
    }
  }

  @Test
  void aDatabaseOfANewerObdctlIsRefusedWithItsName() throws Exception {
    Path file = dir.resolve("layers.db");
    SqliteLayerRecords.open(file).close();
    try (var c = DriverManager.getConnection("jdbc:sqlite:" + file);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA user_version = 99");
    }
    assertThatThrownBy(() -> SqliteLayerRecords.open(file))
        .hasMessageContaining(file.toString())
        .hasMessageContaining("newer than this obdctl understands");
  }
}
