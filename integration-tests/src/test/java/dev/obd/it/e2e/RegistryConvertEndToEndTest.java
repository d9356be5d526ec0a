package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.RegistryTokenServer;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code obdctl convert} straight from registry to registry, as a platform's offline accelerator
 * step: a multi-platform index (two platforms sharing their four bottom layers, and a buildx-style
 * attestation entry) converted into a new index and pulled lazily through kubelet's CRI path; a
 * platform filter; a conversion that fails half-way leaving no target tag; registries asking for a
 * bearer token and for basic auth, with credentials from a docker config.json and from the command
 * line; missing images and refused credentials reported before any work. Real docker-registry,
 * skopeo, containerd and obdctl as the distribution ships it. The steps build on each other, in
 * order.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RegistryConvertEndToEndTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String NS = "k8s.io";
  private static final String PASSWORD = "conv-Pa55-secret";
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  private E2eEnvironment env;
  private OciImage amd64;
  private OciImage arm64;
  private Path sourceLayout;
  private String source;
  private String arm64Manifest;

  @BeforeAll
  void start() throws Exception {
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("skopeo");
    env = E2eEnvironment.startWithBackstore("obd-rconv", "");
    amd64 = TestImages.tree("unused");
    List<TarLayer> armLayers = new ArrayList<>(amd64.layers());
    armLayers.add(new TarLayer().file("data/arch", 0644, "arm64 only\n"));
    arm64 = new OciImage("unused", armLayers, List.of("/bin/sh"));
    Map<String, OciImage> platforms = new LinkedHashMap<>();
    platforms.put("linux/amd64", amd64);
    platforms.put("linux/arm64", arm64);
    platforms.put("unknown/unknown", TestImages.small("unused", "an attestation"));
    sourceLayout = env.workDir("source-layout");
    OciImage.writeIndexLayout(sourceLayout, "v1", platforms);
    source = env.registry.host() + "/src/tree:v1";
    ObdImages.pushIndex(sourceLayout, "v1", source, null);
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  @Test
  @Order(1)
  void everyPlatformOfAnIndexIsConvertedAndSharedLayersAreMadeAndStoredOnce() throws Exception {
    String target = env.registry.host() + "/obd/tree:v1";
    Run r = obdctl("--source", source, "--target", target, "--plain-http", "--json");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode result = JSON.readTree(r.out());
    JsonNode stats = result.path("stats");
    assertThat(stats.path("layersConverted").asInt()).as(r.out()).isEqualTo(5);
    assertThat(stats.path("layersReused").asInt()).as("arm64's bottom four").isEqualTo(4);
    assertThat(stats.path("blobsStored").asInt()).as("five layers, two configs").isEqualTo(7);
    assertThat(stats.path("blobsPresent").asInt()).as("the shared layers, checked").isEqualTo(4);
    assertThat(r.err()).contains("not an image for a platform (an attestation)");
    assertThat(r.out() + r.err()).as("no terminal, no redraws").doesNotContain("\u001b[");

    JsonNode index = JSON.readTree(manifest(env.registry, "obd/tree", "v1").body());
    assertThat(index.path("mediaType").asText())
        .isEqualTo("application/vnd.oci.image.index.v1+json");
    assertThat(index.path("manifests")).hasSize(2);
    assertThat(index.path("manifests").get(0).path("platform").path("architecture").asText())
        .isEqualTo("amd64");
    assertThat(index.path("manifests").get(1).path("platform").path("architecture").asText())
        .isEqualTo("arm64");
    assertThat(result.path("root").path("digest").asText())
        .isEqualTo(
            manifest(env.registry, "obd/tree", "v1")
                .headers()
                .firstValue("Docker-Content-Digest")
                .orElse(""));
    arm64Manifest = result.path("images").get(1).path("manifest").path("digest").asText();
    JsonNode amdLayers = result.path("images").get(0).path("layers");
    JsonNode armLayers = result.path("images").get(1).path("layers");
    assertThat(armLayers).hasSize(5);
    for (int i = 0; i < 4; i++) {
      assertThat(armLayers.get(i)).isEqualTo(amdLayers.get(i));
    }
  }

  @Test
  @Order(2)
  void theConvertedIndexIsPulledLazilyAndShowsExactlyTheOriginalTree() throws Exception {
    String target = env.registry.host() + "/obd/tree:v1";
    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(target);
    }
    assertThat(env.daemon().client().list("labels.\"containerd.io/snapshot/remote\""))
        .as("the four layers of linux/amd64 are remote snapshots: nothing was downloaded")
        .hasSize(4);
    String out =
        env.containerd.runContainer(
            NS,
            SNAPSHOTTER,
            target,
            "converted-tree",
            "/bin/sh",
            "-c",
            ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(amd64.layers()).listing("data"));
  }

  @Test
  @Order(3)
  void aPlatformFilterConvertsThatPlatformAloneAndAnAbsentOneIsNamed() throws Exception {
    String target = env.registry.host() + "/obd/tree:arm64";
    Run r =
        obdctl("--source", source, "--target", target, "--plain-http", "--platform", "linux/arm64");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out())
        .contains("1 image(s), 5 OverlayBD layer(s) made", "0 reused", "index sha256:");
    JsonNode index = JSON.readTree(manifest(env.registry, "obd/tree", "arm64").body());
    assertThat(index.path("manifests")).hasSize(1);
    assertThat(index.path("manifests").get(0).path("platform").path("architecture").asText())
        .isEqualTo("arm64");
    assertThat(index.path("manifests").get(0).path("digest").asText())
        .as(
            "converted alone, arm64 is byte for byte what it was as the second platform, on a"
                + " disk rebuilt from the layers it shares with amd64")
        .isEqualTo(arm64Manifest);

    Run none =
        obdctl(
            "--source",
            source,
            "--target",
            env.registry.host() + "/obd/tree:s390x",
            "--plain-http",
            "--platform",
            "linux/s390x");
    assertThat(none.exit()).isEqualTo(1);
    assertThat(none.err())
        .contains("no image for [linux/s390x]", "linux/amd64", "linux/arm64")
        .doesNotContain("at dev.obd");
    assertThat(manifest(env.registry, "obd/tree", "s390x").statusCode()).isEqualTo(404);
  }

  @Test
  @Order(4)
  void aConversionFailingHalfWayLeavesTheTargetTagUnwritten() throws Exception {
    Path dir = env.workDir("half-way");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"))) {
      String src = registry.host() + "/src/tree:v1";
      ObdImages.pushIndex(sourceLayout, "v1", src, null);
      // the registry's copy of the arm64-only layer rots: the same size, other bytes
      String armOnly = ObdImages.layerDigestsOfIndex(sourceLayout, 1).get(4);
      Path data =
          dir.resolve(
              "registry/storage/docker/registry/v2/blobs/sha256/"
                  + armOnly.substring(7, 9)
                  + "/"
                  + armOnly.substring(7)
                  + "/data");
      byte[] rotten = Files.readAllBytes(data);
      rotten[rotten.length / 2] ^= 0x55;
      Files.write(data, rotten);

      Run r = obdctl("--source", src, "--target", registry.host() + "/obd/tree:v1", "--plain-http");
      assertThat(r.exit()).isEqualTo(1);
      assertThat(r.err()).contains(armOnly, "digest").doesNotContain("at dev.obd");
      assertThat(r.out()).as("linux/amd64 was converted and stored").contains("layer 4/4");
      assertThat(manifest(registry, "obd/tree", "v1").statusCode())
          .as("the target tag after a failed conversion")
          .isEqualTo(404);

      Run missing =
          obdctl(
              "--source",
              registry.host() + "/src/tree:nope",
              "--target",
              registry.host() + "/obd/tree:v1",
              "--plain-http");
      assertThat(missing.exit()).isEqualTo(1);
      assertThat(missing.err())
          .contains("read manifest " + registry.host() + "/src/tree:nope", "404")
          .doesNotContain("at dev.obd");
      assertThat(missing.out()).doesNotContain("layer 1/");
    }
  }

  @Test
  @Order(5)
  void registriesAskingForBearerTokensOrBasicAuthGetTheCredentialsMeantForThem() throws Exception {
    Requirements.requireCommand("htpasswd");
    Path dir = env.workDir("auth");
    Path htpasswd = dir.resolve("htpasswd");
    Containerd.Result made =
        Containerd.run(
            List.of("htpasswd", "-cbB", htpasswd.toString(), "bob", PASSWORD),
            Duration.ofSeconds(30));
    assertThat(made.exit()).as(made.output()).isZero();
    Path small = dir.resolve("small-layout");
    TestImages.small("unused", "behind credentials").writeLayout(small, "v1");
    try (RegistryTokenServer tokens =
            RegistryTokenServer.start(dir.resolve("tokens"), "alice", PASSWORD);
        LocalRegistry tokenRegistry = LocalRegistry.startWithTokens(dir.resolve("tr"), tokens);
        LocalRegistry basicRegistry =
            LocalRegistry.startWithHtpasswd(dir.resolve("br"), htpasswd)) {
      String src = tokenRegistry.host() + "/team/small:v1";
      ObdImages.push(small, "v1", src, "alice:" + PASSWORD);
      String dst = basicRegistry.host() + "/team/small:v1-obd";

      // no credentials for the target: refused before any layer is read
      Run anonymous =
          obdctl(
              "--source",
              src,
              "--source-creds",
              "alice:" + PASSWORD,
              "--target",
              dst,
              "--plain-http",
              "--authfile",
              dir.resolve("none.json").toString());
      assertThat(anonymous.exit()).isEqualTo(1);
      assertThat(anonymous.err())
          .contains(
              "check that " + dst + " can be pushed to",
              "requires authentication and no credentials are configured")
          .doesNotContain("at dev.obd");
      assertThat(anonymous.out()).doesNotContain("layer 1/");

      // the wrong password for the source, from a docker config.json: the token server refuses
      Path authFile = dir.resolve("config.json");
      writeAuthFile(authFile, tokenRegistry.host(), "alice", "wrong", basicRegistry.host(), "bob");
      Run refused =
          obdctl(
              "--source", src, "--target", dst, "--plain-http", "--authfile", authFile.toString());
      assertThat(refused.exit()).isEqualTo(1);
      assertThat(refused.err()).contains("401").doesNotContain("wrong", "at dev.obd");
      assertThat(refused.out()).doesNotContain("layer 1/");
      assertThat(manifest(basicRegistry, "team/small", "v1-obd", "bob").statusCode())
          .isEqualTo(404);

      writeAuthFile(authFile, tokenRegistry.host(), "alice", PASSWORD, basicRegistry.host(), "bob");
      int before = tokens.issued.get();
      Run ok =
          obdctl(
              "--source", src, "--target", dst, "--plain-http", "--authfile", authFile.toString());
      assertThat(ok.exit()).as(ok.err()).isZero();
      assertThat(ok.out()).contains("2 OverlayBD layer(s) made", "manifest sha256:");
      assertThat(tokens.issued.get()).as("tokens issued for the source").isGreaterThan(before);
      assertThat(manifest(basicRegistry, "team/small", "v1-obd", "bob").statusCode())
          .isEqualTo(200);

      // --creds names the target's credentials on the command line, for its host alone
      Run again =
          obdctl(
              "--source",
              src,
              "--source-creds",
              "alice:" + PASSWORD,
              "--target",
              basicRegistry.host() + "/team/small:again",
              "--creds",
              "bob:" + PASSWORD,
              "--plain-http",
              "--authfile",
              dir.resolve("none.json").toString());
      assertThat(again.exit()).as(again.err()).isZero();
      assertThat(manifest(basicRegistry, "team/small", "again", "bob").statusCode()).isEqualTo(200);

      // a cross-repository mount in token mode needs a token for both repositories: the
      // registry's challenge names both scopes
      Path db = dir.resolve("layers.db");
      for (String repo : List.of("team/small-obd", "team/other-obd")) {
        Run r =
            obdctl(
                "--source",
                src,
                "--target",
                tokenRegistry.host() + "/" + repo + ":v1",
                "--plain-http",
                "--authfile",
                authFile.toString(),
                "--json",
                "--db",
                db.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode stats = JSON.readTree(r.out()).path("stats");
        assertThat(stats.path("blobsMounted").asInt())
            .as(repo)
            .isEqualTo(repo.equals("team/other-obd") ? 2 : 0);
        assertThat(stats.path("layersConverted").asInt())
            .as(repo)
            .isEqualTo(repo.equals("team/other-obd") ? 0 : 2);
      }
    }
  }

  @Test
  @Order(6)
  void anImageSharingItsBaseWithOneConvertedBeforeConvertsOnlyItsNewLayer() throws Exception {
    Path db = env.workDir("reuse").resolve("layers.db");
    String host = env.registry.host();
    Run a =
        obdctl(
            "--source",
            source,
            "--platform",
            "linux/amd64",
            "--target",
            host + "/obd/reuse-a:v1",
            "--plain-http",
            "--json",
            "--db",
            db.toString());
    assertThat(a.exit()).as(a.err()).isZero();
    assertThat(JSON.readTree(a.out()).path("stats").path("layersConverted").asInt()).isEqualTo(4);

    // another image on the same three bottom layers, pushed to another repository
    List<TarLayer> layers = new ArrayList<>(amd64.layers().subList(0, 3));
    layers.add(new TarLayer().file("data/b", 0644, "only in image b\n"));
    OciImage b = new OciImage("unused", layers, List.of("/bin/sh"));
    Path bLayout = env.workDir("reuse-b-layout");
    b.writeLayout(bLayout, "v1");
    ObdImages.push(bLayout, "v1", host + "/src/b:v1");
    String bTarget = host + "/obd/reuse-b:v1";
    Run second =
        obdctl(
            "--source",
            host + "/src/b:v1",
            "--target",
            bTarget,
            "--plain-http",
            "--json",
            "--db",
            db.toString());
    assertThat(second.exit()).as(second.err()).isZero();
    JsonNode stats = JSON.readTree(second.out()).path("stats");
    assertThat(stats.path("layersConverted").asInt()).as(second.err()).isEqualTo(1);
    assertThat(stats.path("layersReused").asInt()).isEqualTo(3);
    assertThat(stats.path("blobsMounted").asInt()).as("mounted, not uploaded").isEqualTo(3);
    assertThat(stats.path("blobsStored").asInt()).as("the new layer and the config").isEqualTo(2);
    assertThat(second.err()).contains("mounted from " + host + "/obd/reuse-a", "fetched sha256:");

    try (CriClient cri = new CriClient(env.containerd.socket())) {
      cri.pull(bTarget);
    }
    String out =
        env.containerd.runContainer(
            NS, SNAPSHOTTER, bTarget, "reuse-b", "/bin/sh", "-c", ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(b.layers()).listing("data"));

    // the records say where the bottom layer went; once it is gone from there, it is made again
    String bottom =
        JSON.readTree(second.out())
            .path("images")
            .get(0)
            .path("layers")
            .get(0)
            .path("digest")
            .asText();
    for (String repo : List.of("obd/reuse-a", "obd/reuse-b")) {
      HttpResponse<String> deleted =
          HTTP.send(
              HttpRequest.newBuilder(
                      URI.create(env.registry.url() + "/v2/" + repo + "/blobs/" + bottom))
                  .DELETE()
                  .timeout(Duration.ofSeconds(30))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(deleted.statusCode()).as(repo + ": " + deleted.body()).isEqualTo(202);
    }
    Run third =
        obdctl(
            "--source",
            host + "/src/b:v1",
            "--target",
            host + "/obd/reuse-c:v1",
            "--plain-http",
            "--json",
            "--db",
            db.toString());
    assertThat(third.exit()).as(third.err()).isZero();
    assertThat(JSON.readTree(third.out()).path("stats").path("layersConverted").asInt())
        .as("records whose blob is gone are not trusted")
        .isEqualTo(4);
  }

  @Test
  @Order(7)
  void onATerminalTheLayerUnderWayIsShownInPlace() throws Exception {
    Requirements.requireCommand("script");
    String host = env.registry.host();
    String cmd =
        String.join(
            " ",
            ObdImages.dist().resolve("bin/obdctl").toString(),
            "convert",
            "--source",
            host + "/src/b:v1",
            "--target",
            host + "/obd/on-a-terminal:v1",
            "--plain-http",
            "--no-reuse",
            "--workdir",
            env.workDir("scratch").toString());
    // script(1) runs the command on a pseudo-terminal, as an operator's shell does
    Containerd.Result r =
        Containerd.run(List.of("script", "-qec", cmd, "/dev/null"), Duration.ofMinutes(5));
    assertThat(r.exit()).as(r.output()).isZero();
    assertThat(r.output())
        .contains("\r\u001b[K", ": downloading ", ": applying ", ": committing ", ": storing ")
        .contains("1 image(s), 4 OverlayBD layer(s) made");
  }

  private static void writeAuthFile(
      Path file, String host1, String user1, String password1, String host2, String user2)
      throws IOException {
    Base64.Encoder b64 = Base64.getEncoder();
    Files.writeString(
        file,
        "{\"auths\":{\""
            + host1
            + "\":{\"auth\":\""
            + b64.encodeToString((user1 + ":" + password1).getBytes(StandardCharsets.UTF_8))
            + "\"},\""
            + host2
            + "\":{\"auth\":\""
            + b64.encodeToString((user2 + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8))
            + "\"}}}");
  }

  private static HttpResponse<String> manifest(LocalRegistry r, String repo, String tag)
      throws Exception {
    return manifest(r, repo, tag, null);
  }

  /** GET of a manifest by tag, as bob with Basic auth when {@code user} is given. */
  private static HttpResponse<String> manifest(
      LocalRegistry r, String repo, String tag, String user) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(r.url() + "/v2/" + repo + "/manifests/" + tag))
            .timeout(Duration.ofSeconds(30))
            .header(
                "Accept",
                "application/vnd.oci.image.index.v1+json,"
                    + " application/vnd.oci.image.manifest.v1+json");
    if (user != null) {
      b.header(
          "Authorization",
          "Basic "
              + Base64.getEncoder()
                  .encodeToString((user + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8)));
    }
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private record Run(int exit, String out, String err) {}

  /** {@code obdctl convert ARGS} of the built distribution, with its two streams apart. */
  private Run obdctl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(ObdImages.dist().resolve("bin/obdctl").toString());
    cmd.add("convert");
    cmd.addAll(List.of(args));
    cmd.addAll(List.of("--workdir", env.workDir("scratch").toString()));
    if (!cmd.contains("--db")) {
      cmd.add("--no-reuse");
    }
    Path dir = Files.createTempDirectory(env.workDir("runs"), "obdctl-");
    Process p =
        new ProcessBuilder(cmd)
            .redirectOutput(dir.resolve("out").toFile())
            .redirectError(dir.resolve("err").toFile())
            .start();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      throw new AssertionError(cmd + " did not finish within 5 minutes");
    }
    return new Run(
        p.exitValue(), Files.readString(dir.resolve("out")), Files.readString(dir.resolve("err")));
  }
}
