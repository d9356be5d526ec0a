package dev.obd.image.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ImageFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageConfigJsonTest {
  private static final String D1 =
      "sha256:8776e2f7e7f9f9d0f6c4d4c1a6f0f5e9a3b0e3f3c2d1e0f9a8b7c6d5e4f3a201";
  private static final String D2 =
      "sha256:5bf5e2f7e7f9f9d0f6c4d4c1a6f0f5e9a3b0e3f3c2d1e0f9a8b7c6d5e4f3ac67";

  @Test
  void writesTheSnapshotterLayoutByteForByte() {
    ImageConfig c =
        new ImageConfig(
            "https://registry-1.docker.io/v2/overlaybd/redis/blobs",
            List.of(
                LowerConfig.remote(D1, 43458048, "/var/lib/x/snapshots/2/fs"),
                LowerConfig.remote(D2, 25600, "/var/lib/x/snapshots/3/fs")),
            UpperConfig.writable(
                "/var/lib/x/snapshots/4/block/writable_index",
                "/var/lib/x/snapshots/4/block/writable_data",
                0),
            "/var/lib/x/snapshots/4/block/init-debug.log",
            false,
            "/tmp/trace_file",
            Optional.empty());
    assertThat(ImageConfigJson.toJson(c))
        .isEqualTo(
            "{\"repoBlobUrl\":\"https://registry-1.docker.io/v2/overlaybd/redis/blobs\","
                + "\"lowers\":[{\"digest\":\""
                + D1
                + "\",\"size\":43458048,\"dir\":\"/var/lib/x/snapshots/2/fs\"},"
                + "{\"digest\":\""
                + D2
                + "\",\"size\":25600,\"dir\":\"/var/lib/x/snapshots/3/fs\"}],"
                + "\"upper\":{\"index\":\"/var/lib/x/snapshots/4/block/writable_index\","
                + "\"data\":\"/var/lib/x/snapshots/4/block/writable_data\"},"
                + "\"resultFile\":\"/var/lib/x/snapshots/4/block/init-debug.log\","
                + "\"recordTracePath\":\"/tmp/trace_file\"}");
  }

  @Test
  void readOnlyConfigKeepsAlwaysPresentKeysAndOmitsTheRest() {
    ImageConfig c = ImageConfig.of("", List.of(), "");
    assertThat(ImageConfigJson.toJson(c))
        .isEqualTo("{\"repoBlobUrl\":\"\",\"lowers\":[],\"upper\":{},\"resultFile\":\"\"}");
  }

  @Test
  void escapesLikeGo() {
    assertThat(ImageConfigJson.quote("a<b>&\"\\\n\u0001"))
        .isEqualTo("\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0001\"");
  }

  @Test
  void roundTripsEveryField() {
    ImageConfig c =
        new ImageConfig(
            "http://127.0.0.1:5000/v2/x/blobs",
            List.of(
                new LowerConfig("/g", "/f", D1, "/t", D2, 7, "/d"), LowerConfig.ofFile("/only")),
            new UpperConfig("/i", "/d", "/t", "/g", 64),
            "/r",
            true,
            "",
            Optional.of(new DownloadConfig(true, 1, 2, 3, 4, 5)));
    assertThat(ImageConfigJson.parse(ImageConfigJson.toJson(c))).isEqualTo(c);
  }

  @Test
  void readingToleratesUnknownAndMissingKeysWithUpstreamDefaults() {
    ImageConfig c =
        ImageConfigJson.parse(
            "{\"lowers\":[{\"file\":\"/a\",\"future\":1}],\"upper\":{},\"somethingNew\":[1,2],"
                + "\"download\":{\"enable\":true}}");
    assertThat(c.repoBlobUrl()).isEmpty();
    assertThat(c.lowers()).containsExactly(LowerConfig.ofFile("/a"));
    assertThat(c.upper().isWritable()).isFalse();
    assertThat(c.download()).contains(new DownloadConfig(true, 300, 30, 100, 5, 262144));
  }

  @Test
  void aKnownKeyOfTheWrongTypeIsNamedInTheError() {
    assertThatThrownBy(() -> ImageConfigJson.parse("{\"lowers\":[{\"size\":\"big\"}]}"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("lowers[0].size");
    assertThatThrownBy(() -> ImageConfigJson.parse("{\"lowers\":[{\"digest\":\"sha256:xyz\"}]}"))
        .hasMessageContaining("lowers[0]")
        .hasMessageContaining("digest");
    assertThatThrownBy(() -> ImageConfigJson.parse("[1]")).hasMessageContaining("object");
  }

  @Test
  void aConfigFileThatIsNotValidIsAFormatErrorNamingTheFileAndTheKey(@TempDir Path dir)
      throws Exception {
    Path f = dir.resolve("config.v1.json");
    Files.writeString(f, "{\"lowers\":[{\"size\":\"big\"}]}");
    assertThatThrownBy(() -> ImageConfigJson.read(f))
        .isInstanceOf(ImageFormatException.class)
        .hasMessage("read image config " + f + ": lowers[0].size: expected an integer");
    Files.writeString(f, "{\"lowers\":");
    assertThatThrownBy(() -> ImageConfigJson.read(f))
        .isInstanceOf(ImageFormatException.class)
        .hasMessageStartingWith("read image config " + f + ": not valid JSON");
  }

  @Test
  void aFileThatCannotBeReadIsNoFormatError(@TempDir Path dir) {
    assertThatThrownBy(() -> ImageConfigJson.read(dir.resolve("missing.json")))
        .isInstanceOf(java.io.IOException.class)
        .isNotInstanceOf(ImageFormatException.class);
  }

  @Test
  void writesAtomicallyAndReadsBack(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("config.v1.json");
    ImageConfig c = ImageConfig.of("", List.of(LowerConfig.ofDir("/x")), "/r");
    ImageConfigJson.write(c, file);
    assertThat(ImageConfigJson.read(file)).isEqualTo(c);
    try (var files = Files.list(dir)) {
      assertThat(files).containsExactly(file);
    }
  }

  @Test
  void lowerResolvesItsLocalFileInUpstreamOrder(@TempDir Path dir) throws Exception {
    LowerConfig l = LowerConfig.ofDir(dir.toString());
    assertThat(l.resolveLocalFile()).isEmpty();
    Files.writeString(dir.resolve("overlaybd.sealed"), "s");
    assertThat(l.resolveLocalFile()).contains(dir.resolve("overlaybd.sealed"));
    Files.writeString(dir.resolve(".commit"), "c");
    assertThat(l.resolveLocalFile()).contains(dir.resolve(".commit"));
    Files.writeString(dir.resolve("overlaybd.commit"), "c");
    assertThat(l.resolveLocalFile()).contains(dir.resolve("overlaybd.commit"));
  }

  @Test
  void aLowersFileIsItsLocalFileEvenWhenMissingAsOverlaybdOpensIt(@TempDir Path dir)
      throws Exception {
    Files.writeString(dir.resolve("overlaybd.commit"), "c");
    LowerConfig l =
        new LowerConfig("", dir.resolve("gone").toString(), "", "", "", 0, dir.toString());
    assertThat(l.resolveLocalFile()).contains(dir.resolve("gone"));
  }
}
