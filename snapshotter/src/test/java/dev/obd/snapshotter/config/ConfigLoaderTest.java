package dev.obd.snapshotter.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

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
}
