package dev.obd.snapshotter.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
  private static final Path FILE = Path.of("/etc/test/config.json");

  @Test
  void upstreamsShippedConfigIsReadWithoutWarnings() {
    var loaded =
        ConfigLoader.parse(
            """
            {
              "root": "/var/lib/containerd/io.containerd.snapshotter.v1.overlaybd",
              "address": "/run/overlaybd-snapshotter/overlaybd.sock",
              "verbose": "info",
              "rwMode": "overlayfs",
              "logReportCaller": false,
              "autoRemoveDev": false,
              "exporterConfig": {"enable": false, "uriPrefix": "/metrics", "port": 9863},
              "mirrorRegistry": [{"host": "localhost:5000", "insecure": true}],
              "runtimeType": "containerd"
            }
            """,
            FILE);
    assertThat(loaded.warnings()).isEmpty();
    SnapshotterConfig c = loaded.config();
    assertThat(c.root()).isEqualTo(SnapshotterConfig.DEFAULT_ROOT);
    assertThat(c.address()).isEqualTo(SnapshotterConfig.DEFAULT_ADDRESS);
    assertThat(c.rwMode()).isEqualTo(RwMode.OVERLAYFS);
    assertThat(c.mirrorRegistry())
        .containsExactly(new SnapshotterConfig.MirrorRegistry("localhost:5000", true));
    assertThat(c.exporter().host()).isEqualTo("127.0.0.1");
  }

  @Test
  void absentKeysTakeUpstreamsDefaults() {
    SnapshotterConfig c = ConfigLoader.parse("{}", FILE).config();
    assertThat(c).isEqualTo(SnapshotterConfig.defaults());
    assertThat(c.verbose()).isEqualTo("info");
    assertThat(c.writableLayerType()).isEqualTo("append");
    assertThat(c.defaultFsType()).isEqualTo("ext4");
    assertThat(c.tenant()).isEqualTo(-1);
    assertThat(c.turboFsType()).containsExactly("erofs", "ext4");
    assertThat(c.exporter().port()).isEqualTo(9863);
    assertThat(c.exporter().uriPrefix()).isEqualTo("/metrics");
  }

  @Test
  void jsonNullMeansDefaultAsInGo() {
    assertThat(ConfigLoader.parse("{\"asyncRemove\": null, \"rwMode\": null}", FILE).config())
        .isEqualTo(SnapshotterConfig.defaults());
  }

  @Test
  void turboFsTypeAlwaysEndsUpWithExt4AndErofs() {
    assertThat(ConfigLoader.parse("{\"turboFsType\": [\"ext4\"]}", FILE).config().turboFsType())
        .containsExactly("ext4", "erofs");
  }

  @Test
  void unknownKeysAreWarningsNamingTheirPath() {
    var loaded =
        ConfigLoader.parse(
            "{\"newThing\": 1, \"exporterConfig\": {\"odd\": 2}, \"mirrorRegistry\": [{\"host\": \"h\", \"x\": 3}]}",
            FILE);
    assertThat(loaded.warnings())
        .containsExactly(
            "config /etc/test/config.json: unknown key \"exporterConfig.odd\" ignored",
            "config /etc/test/config.json: unknown key \"mirrorRegistry[0].x\" ignored",
            "config /etc/test/config.json: unknown key \"newThing\" ignored");
  }

  @Test
  void unimplementedKeysSetToOtherThanTheirDefaultWarnOnceEachAndChangeNothingElse() {
    var loaded =
        ConfigLoader.parse(
            """
            {
              "rootfsQuota": "20g",
              "runtimeType": "docker",
              "turboFsType": ["ext4"]
            }
            """,
            FILE);
    assertThat(loaded.warnings())
        .containsExactly(
            "config /etc/test/config.json: key \"rootfsQuota\" is \"20g\", which has no effect in"
                + " this snapshotter: no project quota is set on containers' root filesystems",
            "config /etc/test/config.json: key \"runtimeType\" is \"docker\", which has no effect"
                + " in this snapshotter: Docker's -init layers get no special handling",
            "config /etc/test/config.json: key \"turboFsType\" is [ext4, erofs], which has no"
                + " effect in this snapshotter: TurboOCI images are not supported, so no TurboOCI"
                + " filesystem metadata is chosen");
    assertThat(loaded.config())
        .isEqualTo(
            SnapshotterConfig.defaults().toBuilder()
                .rootfsQuota("20g")
                .runtimeType("docker")
                .turboFsType(List.of("ext4", "erofs"))
                .build());
  }

  @Test
  void sparseWritableLayersAreTakenWithoutAWarningAndAnUnknownTypeIsRefused() {
    var loaded = ConfigLoader.parse("{\"writableLayerType\": \"sparse\"}", FILE);
    assertThat(loaded.warnings()).isEmpty();
    assertThat(loaded.config().writableLayerType()).isEqualTo("sparse");
    assertThat(ConfigLoader.parse("{}", FILE).config().writableLayerType()).isEqualTo("append");
    assertThatThrownBy(() -> ConfigLoader.parse("{\"writableLayerType\": \"thin\"}", FILE))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("writableLayerType");
  }

  @Test
  void unimplementedKeysAtTheirDefaultsDoNotWarn() {
    var loaded =
        ConfigLoader.parse(
            """
            {
              "writableLayerType": "append",
              "rootfsQuota": "",
              "runtimeType": "containerd",
              "turboFsType": ["erofs", "ext4"]
            }
            """,
            FILE);
    assertThat(loaded.warnings()).isEmpty();
    assertThat(loaded.config()).isEqualTo(SnapshotterConfig.defaults());
  }

  @Test
  void aBadValueNamesTheKeyInOneLine() {
    for (var c :
        List.of(
            List.of(
                "{\"rwMode\": \"fast\"}",
                "key \"rwMode\": must be one of overlayfs, dir, dev (got \"fast\")"),
            List.of(
                "{\"autoRemoveDev\": 1}", "key \"autoRemoveDev\": must be true or false (got 1)"),
            List.of("{\"tenant\": 1.5}", "key \"tenant\""),
            List.of("{\"address\": \"/" + "x".repeat(120) + "\"}", "at most 107 bytes"),
            List.of(
                "{\"exporterConfig\": {\"uriPrefix\": \"metrics\"}}",
                "key \"exporterConfig.uriPrefix\""),
            List.of("[]", "must be a JSON object"))) {
      assertThatThrownBy(() -> ConfigLoader.parse(c.get(0), FILE))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining(c.get(1))
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
  }

  @Test
  void commandLineValuesAreCheckedLikeFileValues() {
    assertThat(ConfigLoader.checkLogLevel("--log-level", "DEBUG")).isEqualTo("debug");
    assertThatThrownBy(() -> ConfigLoader.checkRoot("--root", "relative"))
        .hasMessageContaining("flag --root");
    assertThatThrownBy(() -> ConfigLoader.checkAddress("--address", "/" + "s".repeat(200)))
        .hasMessageContaining("flag --address");
  }

  @TempDir Path dir;

  private static void assertRefused(Path file, String problem) {
    assertThatThrownBy(() -> ConfigLoader.load(file))
        .isInstanceOf(ConfigException.class)
        .hasMessageStartingWith("config " + file + ": ")
        .hasMessageContaining(problem)
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n").hasSizeLessThan(600));
  }

  @Test
  void aFifoIsRefusedWithoutBeingOpened() throws Exception {
    Path fifo = dir.resolve("config.json");
    Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
    assertThat(mkfifo.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(mkfifo.exitValue()).isZero();
    // opening a FIFO for reading would block until a writer comes: the bound is the behaviour
    org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
        Duration.ofSeconds(10), () -> assertRefused(fifo, "not a regular file but a FIFO"));
  }

  @Test
  void directoriesAndDevicesAreRefused() {
    assertRefused(dir, "not a regular file but a directory");
    assertRefused(Path.of("/dev/zero"), "not a regular file but a character device");
  }

  @Test
  void aFileOfFiftyMegabytesIsRefusedUnread() throws IOException {
    Path big = dir.resolve("big.json");
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.setLength(50L << 20); // sparse: reading it would still cost 50 MB of heap
    }
    assertRefused(big, "52428800 bytes, larger than the 1048576 bytes");
  }

  @Test
  void aFileOfExactlyTheLimitIsRead() throws IOException {
    Path full = dir.resolve("full.json");
    String json = "{\"verbose\": \"debug\"}";
    Files.writeString(full, json + " ".repeat(ConfigLoader.MAX_BYTES - json.length()));
    assertThat(ConfigLoader.load(full).config().verbose()).isEqualTo("debug");
  }

  @Test
  void jsonNestedThousandsOfLevelsIsOneLineNotAStackTrace() throws IOException {
    Path deep = dir.resolve("deep.json");
    Files.writeString(deep, "{\"mirrorRegistry\": " + "[".repeat(5000) + "]".repeat(5000) + "}");
    assertRefused(deep, "JSON nested deeper than 32 levels");
    Files.writeString(deep, "{\"a\":".repeat(5000) + "1" + "}".repeat(5000));
    assertRefused(deep, "JSON nested deeper than 32 levels");
  }

  @Test
  void bytesThatAreNotUtf8AreInvalidJson() throws IOException {
    Path bad = dir.resolve("bad.json");
    Files.write(bad, new byte[] {'{', '"', (byte) 0xff, (byte) 0xfe, '"', ':', '1', '}'});
    assertRefused(bad, "not valid JSON");
  }

  @Test
  void aHugeBadValueIsEchoedCut() {
    assertThatThrownBy(
            () -> ConfigLoader.parse("{\"rwMode\": \"" + "x".repeat(500_000) + "\"}", FILE))
        .hasMessageContaining("key \"rwMode\"")
        .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(500));
  }

  @Test
  void thousandsOfUnknownKeysAreCountedNotListed() {
    StringBuilder json = new StringBuilder("{");
    for (int i = 0; i < 5000; i++) {
      json.append(i == 0 ? "" : ",").append("\"k").append(i).append("\": 1");
    }
    List<String> warnings = ConfigLoader.parse(json.append("}").toString(), FILE).warnings();
    assertThat(warnings).hasSize(ConfigLoader.MAX_UNKNOWN_KEY_WARNINGS + 1);
    assertThat(warnings.get(warnings.size() - 1)).endsWith(": 4980 more unknown keys ignored");
  }

  @Test
  void defaultFsTypeTakesOnlyFilesystemsLayersMayDeclare() {
    assertThat(ConfigLoader.parse("{\"defaultFsType\": \"xfs\"}", FILE).config().defaultFsType())
        .isEqualTo("xfs");
    for (String fs : List.of("ntfs", "btrfs", "ext4;discard", "../x")) {
      assertThatThrownBy(() -> ConfigLoader.parse("{\"defaultFsType\": \"" + fs + "\"}", FILE))
          .hasMessageContaining("key \"defaultFsType\": must be one of erofs, ext4, f2fs, xfs");
    }
  }

  @Test
  void recordTracesLiveBelowTheRootUnlessConfiguredElsewhere() {
    SnapshotterConfig c = ConfigLoader.parse("{\"root\": \"/data/obd\"}", FILE).config();
    assertThat(c.traceDirectory()).isEqualTo(Path.of("/data/obd/record-trace"));
    assertThat(c.withRoot(Path.of("/flag/root")).traceDirectory())
        .isEqualTo(Path.of("/flag/root/record-trace"));
    SnapshotterConfig set =
        ConfigLoader.parse("{\"recordTraceDir\": \"/srv/traces/\"}", FILE).config();
    assertThat(set.withRoot(Path.of("/flag/root")).traceDirectory())
        .isEqualTo(Path.of("/srv/traces"));
    assertThatThrownBy(() -> ConfigLoader.parse("{\"recordTraceDir\": \"traces\"}", FILE))
        .hasMessageContaining("key \"recordTraceDir\": must be an absolute path");
  }

  @Test
  void lazyLayersAreCheckedAndARefusalFailsThePullUnlessConfiguredOtherwise() {
    assertThat(ConfigLoader.parse("{}", FILE).config().remoteAccessCheck())
        .isEqualTo(SnapshotterConfig.RemoteAccessCheck.FAIL);
    assertThat(
            ConfigLoader.parse("{\"remoteAccessCheck\": \"download\"}", FILE)
                .config()
                .remoteAccessCheck())
        .isEqualTo(SnapshotterConfig.RemoteAccessCheck.DOWNLOAD);
    assertThat(ConfigLoader.parse("{\"remoteAccessCheck\": \"off\"}", FILE).warnings()).isEmpty();
    assertThatThrownBy(() -> ConfigLoader.parse("{\"remoteAccessCheck\": \"warn\"}", FILE))
        .hasMessageContaining("key \"remoteAccessCheck\": must be one of download, fail, off");
  }

  @Test
  void theCriImageProxyIsOffByDefault() {
    SnapshotterConfig.CriImageService cri =
        ConfigLoader.parse("{}", FILE).config().criImageService();
    assertThat(cri).isEqualTo(SnapshotterConfig.CriImageService.DEFAULT);
    assertThat(cri.enable()).isFalse();
    assertThat(cri.address()).isEqualTo(Path.of("/run/overlaybd-snapshotter/cri-image.sock"));
    assertThat(cri.containerdAddress()).isEqualTo(Path.of("/run/containerd/containerd.sock"));
    assertThat(cri.credentialTtl()).isEqualTo(Duration.ofDays(7));
    assertThat(cri.maxCredentials()).isEqualTo(1024);
  }

  @Test
  void theCriImageProxyIsConfiguredByItsObjectAndWarnsOfUnknownKeysInIt() {
    var loaded =
        ConfigLoader.parse(
            """
            {"criImageService": {"enable": true, "address": "/run/x/cri.sock",
              "containerdAddress": "/run/k3s/containerd/containerd.sock",
              "credentialTtlSec": 3600, "maxCredentials": 5, "keychain": "cri"}}
            """,
            FILE);
    assertThat(loaded.config().criImageService())
        .isEqualTo(
            new SnapshotterConfig.CriImageService(
                true,
                Path.of("/run/x/cri.sock"),
                Path.of("/run/k3s/containerd/containerd.sock"),
                Duration.ofHours(1),
                5));
    assertThat(loaded.warnings()).singleElement().asString().contains("criImageService.keychain");
  }

  @Test
  void badCriImageProxyValuesNameTheirKey() {
    for (var c :
        List.of(
            List.of("{\"criImageService\": true}", "key \"criImageService\": must be an object"),
            List.of(
                "{\"criImageService\": {\"enable\": \"yes\"}}",
                "key \"criImageService.enable\": must be true or false"),
            List.of(
                "{\"criImageService\": {\"address\": \"cri.sock\"}}",
                "key \"criImageService.address\": must be an absolute path"),
            List.of(
                "{\"criImageService\": {\"containerdAddress\": \"/" + "c".repeat(120) + "\"}}",
                "key \"criImageService.containerdAddress\": a unix socket path may have at most"),
            List.of(
                "{\"criImageService\": {\"credentialTtlSec\": 0}}",
                "key \"criImageService.credentialTtlSec\": must be an integer from 60"),
            List.of(
                "{\"criImageService\": {\"maxCredentials\": 0}}",
                "key \"criImageService.maxCredentials\": must be an integer from 1 to 65536"),
            List.of(
                "{\"criImageService\": {\"enable\": true, \"address\":"
                    + " \"/run/containerd/containerd.sock\"}}",
                "key \"criImageService.address\": must differ from"))) {
      assertThatThrownBy(() -> ConfigLoader.parse(c.get(0), FILE))
          .as(c.get(0))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining(c.get(1))
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
  }
}
