package dev.obd.backstore.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.obd.registry.CredentialSettings;
import dev.obd.testsupport.Mounts;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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
  void aBuilderChangesOnlyTheKeysItSetsAndValidatesAsTheFileDoes() {
    BackstoreConfig c =
        BackstoreConfig.defaults().toBuilder().blockSize(512).ioThreads(null).build();
    assertThat(c.blockSize()).isEqualTo(512);
    assertThat(c.ioThreads()).as("unset means the default").isEqualTo(32);
    assertThat(c.toBuilder().build()).isEqualTo(c);
    assertThat(BackstoreConfig.builder().build()).isEqualTo(BackstoreConfig.defaults());
    assertThat(c.cacheConfig().withCacheDir("/c").cacheDir()).isEqualTo("/c");
    assertThat(c.cacheConfig().withCacheDir("/c").refillSize()).isEqualTo(262144);
    assertThatThrownBy(() -> BackstoreConfig.builder().attachMode("tcmu").build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("attachMode");
  }

  @Test
  void badValuesAreRejectedWithTheFileNamed() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(f, "{\"cacheConfig\":{\"refillSize\":1000}}");
    assertThatThrownBy(() -> BackstoreConfig.read(f))
        .hasMessageContaining(f.toString())
        .hasMessageContaining("refillSize must be a power of two");
    Files.writeString(f, "{\"attachMode\":\"tcmu\"}");
    assertThatThrownBy(() -> BackstoreConfig.read(f)).hasMessageContaining("attachMode");
  }

  @Test
  void unknownKeysAreWarningsNamingTheFileAndTheirPath() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(
        f,
        "{\"cachedir\":\"/x\",\"cacheConfig\":{\"refillsize\":{\"a\":[1]}},"
            + "\"mirrors\":[{\"host\":\"h\",\"endpoint\":\"http://m\",\"x\":1}],"
            + "\"ioThreads\":8}");
    BackstoreConfig.Loaded loaded = BackstoreConfig.load(f);
    assertThat(loaded.warnings())
        .containsExactlyInAnyOrder(
            "backstore config " + f + ": unknown key \"cachedir\" ignored",
            "backstore config " + f + ": unknown key \"cacheConfig.refillsize\" ignored",
            "backstore config " + f + ": unknown key \"mirrors[0].x\" ignored");
    assertThat(loaded.config().ioThreads()).isEqualTo(8);
    assertThat(loaded.config().cacheConfig()).isEqualTo(BackstoreConfig.defaults().cacheConfig());
  }

  @Test
  void aLogLevelThatIsNoneIsRefusedNamingTheLevels() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(f, "{\"logLevel\":\"verbose\"}");
    assertOneLineError(
        f,
        "logLevel must be one of debug, error, fatal, info, panic, trace, warn, warning"
            + " (got \"verbose\")");
    Files.writeString(f, "{\"logLevel\":\"Warn\"}");
    assertThat(BackstoreConfig.read(f).logLevel()).isEqualTo("warn");
  }

  @Test
  void aFifoIsRefusedAtOnceInsteadOfWaitingForAWriter() throws Exception {
    Path fifo = dir.resolve("backstore.json");
    Mounts.run(List.of("mkfifo", fifo.toString()), null);
    assertTimeoutPreemptively(
        Duration.ofSeconds(10), () -> assertOneLineError(fifo, "not a regular file but a FIFO"));
  }

  @Test
  void aDirectoryIsRefusedNamingIt() {
    assertOneLineError(dir, "not a regular file but a directory");
  }

  @Test
  void aFileLargerThanOneMebibyteIsRefusedWithoutBeingRead() throws Exception {
    Path huge = dir.resolve("huge.json");
    try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
      f.setLength(50L << 20);
    }
    assertOneLineError(huge, "52428800 bytes, larger than the 1048576 bytes");
  }

  @Test
  void jsonNestedThousandsOfLevelsDeepIsRefusedOnOneLine() throws Exception {
    Path deep = dir.resolve("deep.json");
    Files.writeString(deep, "{\"mirrors\":" + "[".repeat(5000) + "]".repeat(5000) + "}");
    assertOneLineError(deep, "JSON nested deeper than 64 levels");
    Files.writeString(deep, "[".repeat(5000) + "]".repeat(5000));
    assertOneLineError(deep, "JSON nested deeper than 64 levels");
  }

  @Test
  void invalidJsonNamesTheLineAndColumn() throws Exception {
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "{\n  \"logLevel\": \"info\",\n  oops\n}");
    assertOneLineError(bad, "not valid JSON at line 3, column");
    Files.writeString(bad, "null");
    assertOneLineError(bad, "must be a JSON object, not NULL");
    Files.writeString(bad, "");
    assertOneLineError(bad, "must be a JSON object, not an empty file");
    Files.writeString(bad, "[1]");
    assertOneLineError(bad, "must be a JSON object, not ARRAY");
  }

  @Test
  void aMissingFileIsAnErrorUnlessItIsTheDefaultPath() {
    assertOneLineError(dir.resolve("none.json"), "does not exist");
  }

  private static void assertOneLineError(Path file, String problem) {
    assertThatThrownBy(() -> BackstoreConfig.read(file))
        .isInstanceOf(BackstoreConfigException.class)
        .hasMessageStartingWith("backstore config " + file)
        .hasMessageContaining(problem)
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n").hasSizeLessThan(600));
  }

  @Test
  void credentialConfigTakesUpstreamsKeysAndItsEmptyModeMeansCredentialFilePath() throws Exception {
    CredentialSettings legacy = BackstoreConfig.defaults().credentialSettings();
    assertThat(legacy.mode()).isEqualTo(CredentialSettings.Mode.LEGACY);
    assertThat(legacy.credentialFile()).isEqualTo(Path.of("/opt/overlaybd/cred.json"));
    assertThat(legacy.timeout()).isEqualTo(Duration.ofSeconds(1));
    Path f = dir.resolve("b.json");
    Files.writeString(
        f,
        "{\"credentialConfig\":{\"mode\":\"https\",\"path\":\"https://auth.local:8443/auth\","
            + "\"timeout\":2.5,\"client_cert_path\":\"/etc/obd/c.pem\","
            + "\"client_key_path\":\"/etc/obd/k.pem\",\"server_ca_path\":\"/etc/obd/ca.pem\","
            + "\"clientCertPath\":\"x\"}}");
    BackstoreConfig.Loaded loaded = BackstoreConfig.load(f);
    assertThat(loaded.warnings())
        .containsExactly(
            "backstore config " + f + ": unknown key \"credentialConfig.clientCertPath\" ignored");
    CredentialSettings https = loaded.config().credentialSettings();
    assertThat(https.mode()).isEqualTo(CredentialSettings.Mode.HTTPS);
    assertThat(https.path()).isEqualTo("https://auth.local:8443/auth");
    assertThat(https.timeout()).isEqualTo(Duration.ofMillis(2500));
    assertThat(https.clientCert()).isEqualTo(Path.of("/etc/obd/c.pem"));
    assertThat(https.clientKey()).isEqualTo(Path.of("/etc/obd/k.pem"));
    assertThat(https.serverCa()).isEqualTo(Path.of("/etc/obd/ca.pem"));
    assertThat(
            BackstoreConfig.builder()
                .credentialConfig(
                    new BackstoreConfig.CredentialConfig(
                        "uds", "/run/auth.sock", null, null, null, null))
                .build()
                .credentialSettings()
                .mode())
        .isEqualTo(CredentialSettings.Mode.UDS);
  }

  @Test
  void anUnknownCredentialModeOrAPathThatDoesNotFitItsModeStopsTheStart() throws Exception {
    Path f = dir.resolve("b.json");
    Files.writeString(f, "{\"credentialConfig\":{\"mode\":\"kerberos\"}}");
    assertOneLineError(
        f,
        "credentialConfig.mode must be \"\" (credentialFilePath), file, http, https or uds, not"
            + " \"kerberos\"");
    Files.writeString(f, "{\"credentialConfig\":{\"mode\":\"http\",\"path\":\"/run/a.sock\"}}");
    assertOneLineError(
        f,
        "credentialConfig.path must be a http:// URL of the auth server for mode http, not"
            + " \"/run/a.sock\"");
    Files.writeString(f, "{\"credentialConfig\":{\"mode\":\"uds\",\"path\":\"auth.sock\"}}");
    assertOneLineError(f, "credentialConfig.path must be an absolute socket path for mode uds");
    Files.writeString(f, "{\"credentialConfig\":{\"mode\":\"file\"}}");
    assertOneLineError(f, "credentialConfig.path must be an absolute file path for mode file");
    Files.writeString(
        f,
        "{\"credentialConfig\":{\"mode\":\"https\",\"path\":\"https://a\","
            + "\"client_cert_path\":\"/c.pem\"}}");
    assertOneLineError(f, "client_cert_path and client_key_path go together");
    Files.writeString(f, "{\"credentialConfig\":{\"timeout\":0}}");
    assertOneLineError(f, "credentialConfig.timeout must be more than 0");
  }

  @Test
  void helpDocumentsEveryTopLevelKey() {
    String help = BackstoreConfig.describeKeys();
    for (var c : BackstoreConfig.class.getRecordComponents()) {
      assertThat(help).as(c.getName()).contains(c.getName());
    }
  }
}
