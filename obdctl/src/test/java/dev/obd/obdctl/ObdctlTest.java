package dev.obd.obdctl;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.config.UpperConfig;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.testsupport.Requirements;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ObdctlTest {
  private static final String HELLO_LAYER =
      "022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";

  @TempDir Path tmp;

  record Run(int exit, String out, String err) {}

  static Run obdctl(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Obdctl.execute(new PrintWriter(out), new PrintWriter(err), args);
    return new Run(code, out.toString(), err.toString());
  }

  static String exec(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
    return out;
  }

  private static Path helloBlob() {
    return Requirements.requireSharedTestData("hello-world-obd")
        .resolve("blobs/sha256/" + HELLO_LAYER);
  }

  private Path ext4(String name, long seed) throws Exception {
    Requirements.requireCommand("mkfs.ext4");
    Path src = Files.createDirectories(tmp.resolve(name + "-src"));
    Random r = new Random(seed);
    for (int i = 0; i < 10; i++) {
      byte[] b = new byte[r.nextInt(100_000)];
      r.nextBytes(b);
      Files.write(src.resolve("f" + i), b);
    }
    Path img = tmp.resolve(name + ".img");
    exec(
        "mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-d", src.toString(), img.toString(), "32M");
    return img;
  }

  @Test
  void helpListsEverySubcommand() {
    Run r = obdctl("--help");
    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("inspect", "extract", "commit", "convert");
    assertThat(obdctl().exit()).isEqualTo(2);
  }

  @Test
  void inspectShowsWrappersHeadersCountsAndUuids() throws Exception {
    Run text = obdctl("inspect", "--verify", helloBlob().toString());
    assertThat(text.exit()).as(text.err()).isZero();
    assertThat(text.out())
        .contains(
            "kind: PAX", "compression: LZ4", "verifiedBlocks: 17463", "virtualSize: 68719476736")
        .contains("uuid: 01BB4FCE-3EB1-B56B-05AD-F99504DAFD31", "paddingEntries: 253");
    Run json = obdctl("inspect", "--json", helloBlob().toString());
    JsonNode j = new ObjectMapper().readTree(json.out());
    assertThat(j.path("tar").path("payloadOffset").asLong()).isEqualTo(1536);
    assertThat(j.path("zfile").path("blocks").asInt()).isEqualTo(17463);
    assertThat(j.path("zfile").path("headerFlags").asText()).isEqualTo("0x1b");
    assertThat(j.path("lsmt").path("index").path("entries").asInt()).isEqualTo(515);
    assertThat(j.path("lsmt").path("parentUuid").asText())
        .isEqualTo("00000000-0000-0000-0000-000000000000");
  }

  @Test
  void inspectReportsABrokenFileAndKeepsGoing() throws Exception {
    Path junk = tmp.resolve("junk");
    Files.write(junk, new byte[10_000]);
    Run r = obdctl("inspect", junk.toString(), helloBlob().toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains(junk.toString()).contains("no LSMT header");
    assertThat(r.out()).contains("01BB4FCE-3EB1-B56B-05AD-F99504DAFD31");
  }

  @Test
  void inspectShowsWritableLayerFiles() throws Exception {
    Path data = tmp.resolve("writable_data");
    Path index = tmp.resolve("writable_index");
    WritableLayer.create(data, index, 1 << 20, LayerUuid.random(), LayerUuid.NIL).close();
    Run r = obdctl("inspect", data.toString(), index.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out())
        .contains(
            "kind: writable data", "kind: writable index", "headerFlags: 0x3", "headerFlags: 0x1");
  }

  @Test
  void commitThenExtractReproducesTheImageAndDiffsAgainstParents() throws Exception {
    Requirements.requireCommand("debugfs");
    Requirements.requireCommand("e2fsck");
    Path base = ext4("base", 1);
    Path l1 = tmp.resolve("l1.blob");
    Run c1 =
        obdctl(
            "commit",
            "--uuid",
            "11111111-2222-3333-4444-555555555555",
            base.toString(),
            l1.toString());
    assertThat(c1.exit()).as(c1.err()).isZero();
    assertThat(c1.out()).contains("sha256:");

    Path changed = tmp.resolve("changed.img");
    Files.copy(base, changed);
    exec("debugfs", "-w", "-R", "rm /f3", changed.toString());
    try (RandomAccessFile f = new RandomAccessFile(changed.toFile(), "rw")) {
      f.seek(20 << 20);
      f.write(new byte[] {1, 2, 3});
    }
    Path l2 = tmp.resolve("l2.blob");
    Run c2 =
        obdctl(
            "commit", "--zstd", "--parent", l1.toString(), "--", changed.toString(), l2.toString());
    assertThat(c2.exit()).as(c2.err()).isZero();
    JsonNode top = new ObjectMapper().readTree(obdctl("inspect", "--json", l2.toString()).out());
    assertThat(top.path("lsmt").path("parentUuid").asText())
        .isEqualTo("11111111-2222-3333-4444-555555555555");
    assertThat(top.path("zfile").path("compression").asText()).isEqualTo("ZSTD");

    Path out = tmp.resolve("out.img");
    Run x = obdctl("extract", "-o", out.toString(), l1.toString(), l2.toString());
    assertThat(x.exit()).as(x.err()).isZero();
    assertThat(Files.mismatch(changed, out)).isEqualTo(-1);
    exec("e2fsck", "-fn", out.toString());
    // holes stay holes: far less is allocated than the image size
    String[] blocks = exec("stat", "-c", "%b %B", out.toString()).trim().split(" ");
    long allocated = Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]);
    assertThat(allocated).isLessThan(Files.size(out) / 2);
  }

  @Test
  void rawCommitIsAPlainLsmtFile() throws Exception {
    Path base = ext4("raw", 2);
    Path commit = tmp.resolve("overlaybd.commit");
    assertThat(obdctl("commit", "--raw", base.toString(), commit.toString()).exit()).isZero();
    JsonNode j = new ObjectMapper().readTree(obdctl("inspect", "--json", commit.toString()).out());
    assertThat(j.has("tar")).isFalse();
    assertThat(j.has("zfile")).isFalse();
    assertThat(j.path("lsmt").path("kind").asText()).isEqualTo("committed");
  }

  @Test
  void extractFromAConfigResolvesFilesAndDirsAndIncludesTheUpper() throws Exception {
    Path base = ext4("cfg", 3);
    Path dir = Files.createDirectories(tmp.resolve("layer1/fs"));
    assertThat(obdctl("commit", base.toString(), dir.resolve("overlaybd.commit").toString()).exit())
        .isZero();
    Path data = tmp.resolve("writable_data");
    Path index = tmp.resolve("writable_index");
    byte[] written = new byte[4096];
    new Random(4).nextBytes(written);
    try (WritableLayer up =
        WritableLayer.create(data, index, 0, LayerUuid.random(), LayerUuid.NIL)) {
      up.write(8 << 20, ByteBuffer.wrap(written));
    }
    Path cfg = tmp.resolve("config.v1.json");
    ImageConfigJson.write(
        ImageConfig.of("", List.of(LowerConfig.ofDir(dir.toString())), "")
            .withUpper(UpperConfig.writable(index.toString(), data.toString(), 0)),
        cfg);
    Path out = tmp.resolve("out.img");
    Run r = obdctl("extract", "-o", out.toString(), "--config", cfg.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    byte[] expected = Files.readAllBytes(base);
    System.arraycopy(written, 0, expected, 8 << 20, written.length);
    assertThat(Files.readAllBytes(out)).isEqualTo(expected);
  }

  @Test
  void extractFromAConfigWithARemoteLayerSaysSo() throws Exception {
    Path cfg = tmp.resolve("config.v1.json");
    String digest = "sha256:" + "ab".repeat(32);
    ImageConfigJson.write(
        new ImageConfig(
            "https://registry.example/v2/x/blobs",
            List.of(LowerConfig.remote(digest, 100, tmp.resolve("nowhere").toString())),
            UpperConfig.NONE,
            "",
            false,
            "",
            Optional.empty()),
        cfg);
    Run r = obdctl("extract", "-o", tmp.resolve("x.img").toString(), "--config", cfg.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("lower 0", digest, "remote layers are not read by obdctl extract");
  }

  @Test
  void convertTurnsHelloWorldIntoAnOverlaybdImage() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("losetup");
    Path layout = Requirements.requireSharedTestData("hello-world-obd");
    Path out = tmp.resolve("out");
    Run r =
        obdctl(
            "convert",
            "--from",
            layout + ":amd64",
            "--to",
            out + ":obd",
            "--vsize",
            "1",
            "--workdir",
            tmp.toString(),
            "--db",
            tmp.resolve("layers.db").toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("1 OverlayBD layer(s)");
    JsonNode index = new ObjectMapper().readTree(out.resolve("index.json").toFile());
    String manifest = index.path("manifests").get(0).path("digest").asText().substring(7);
    JsonNode m = new ObjectMapper().readTree(out.resolve("blobs/sha256/" + manifest).toFile());
    String layer = m.path("layers").get(0).path("digest").asText().substring(7);
    Run inspect = obdctl("inspect", out.resolve("blobs/sha256/" + layer).toString());
    assertThat(inspect.out())
        .contains("uuid: 01BB4FCE-3EB1-B56B-05AD-F99504DAFD31", "virtualSize: 1073741824");
  }

  @Test
  void aRecordsFileThatCannotBeMadeIsNamedWithTheWaysOn() throws Exception {
    Path src = tmp.resolve("src");
    dev.obd.testsupport.oci.TestImages.small("unused", "x").writeLayout(src, "v1");
    Path db = Path.of("/proc/obd-no-such-dir/layers.db"); // not even root makes a directory there
    Run r =
        obdctl(
            "convert",
            "--from",
            src + ":v1",
            "--to",
            tmp.resolve("out") + ":v1",
            "--fstype",
            "erofs",
            "--workdir",
            tmp.toString(),
            "--db",
            db.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err())
        .contains("open the layer records " + db, "cannot create /proc/obd-no-such-dir", "--db")
        .contains("--no-reuse")
        .doesNotContain("at dev.obd");
  }

  @Test
  void badArgumentsAreReportedWithoutAStackTrace() {
    Run r = obdctl("convert", "--from", "/layout-without-tag", "--to", "x:y");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("is not oci:DIR:TAG").doesNotContain("at dev.obd");
    Run bad = obdctl("convert", "--source", "Registry.example/UPPER:x", "--target", "/out:t");
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.err()).contains("--source").doesNotContain("at dev.obd");
    Run untagged =
        obdctl(
            "convert", "--source", "/in:t", "--target", "r.example/app@sha256:" + "a".repeat(64));
    assertThat(untagged.exit()).isEqualTo(1);
    assertThat(untagged.err()).contains("names no tag to write");
  }
}
