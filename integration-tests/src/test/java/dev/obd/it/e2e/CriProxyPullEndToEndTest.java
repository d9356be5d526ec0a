package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.BackstoreUnavailableException;
import dev.obd.backstore.api.BlobAccessDeniedException;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * kubelet's pull credentials reach obd-backstore through obd-snapshotter's CRI image proxy: with
 * the proxy as kubelet's image endpoint, a CRI pull from a private registry (docker-registry with
 * htpasswd) with the credentials kubelet sends is lazy (the layer committed as a remote snapshot,
 * no layer blob fetched by containerd) and its container runs, reading the layer through the
 * backstore with those credentials; a restarted backstore is handed them again; wrong ones fail the
 * pull with the registry's answer. No file and no log (all at debug level) holds the password or
 * its base64.
 */
class CriProxyPullEndToEndTest {
  private static final String PASSWORD = "cri-Pa55-kept-in-memory";
  private static final String LAYER =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";
  private static final long LAYER_SIZE = 642_560;

  @Test
  void aPullThroughTheProxyWithKubeletsCredentialsIsLazyAndItsContainerRuns() throws Exception {
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    Requirements.requireCommand("skopeo");
    Path dir = Files.createTempDirectory("obd-e2e-cri-proxy-");
    Path htpasswd = dir.resolve("htpasswd");
    Containerd.Result made =
        Containerd.run(
            List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD),
            Duration.ofSeconds(30));
    assertThat(made.exit()).as(made.output()).isZero();
    try {
      pullThroughTheProxy(hello, htpasswd, dir);
    } finally {
      try (var paths = Files.walk(dir)) {
        paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static void pullThroughTheProxy(Path hello, Path htpasswd, Path dir) throws Exception {
    String basic =
        Base64.getEncoder().encodeToString(("alice:" + PASSWORD).getBytes(StandardCharsets.UTF_8));
    try (LocalRegistry registry =
            LocalRegistry.startWithHtpasswd(dir.resolve("registry"), htpasswd);
        E2eEnvironment env =
            E2eEnvironment.builder("cri-proxy")
                .withBackstore("")
                .withCriProxy()
                .registry(registry)
                .start()) {
      String ref = registry.host() + "/private/hello:amd64-converted";
      String deniedRef = registry.host() + "/private/denied:amd64-converted";
      ObdImages.push(hello, "amd64-converted", ref, "alice:" + PASSWORD);
      ObdImages.push(hello, "amd64-converted", deniedRef, "alice:" + PASSWORD);
      assertThat(
              PosixFilePermissions.toString(Files.getPosixFilePermissions(env.backstoreSocket())))
          .as("obd-backstore's control socket, which takes credentials, is root's only")
          .isEqualTo("rw-------");

      long before = layerBlobGets(registry, "private/hello");
      try (CriClient kubelet = new CriClient(env.criProxySocket())) {
        kubelet.pull(
            ref, AuthConfig.newBuilder().setUsername("alice").setPassword(PASSWORD).build());
        assertThat(kubelet.list())
            .as("ListImages through the proxy is containerd's answer")
            .anySatisfy(i -> assertThat(i.getRepoTagsList()).contains(ref));
      }
      assertThat(layerBlobGets(registry, "private/hello"))
          .as("layer blob GETs during the pull")
          .isEqualTo(before);
      List<Info> remote =
          env.daemon()
              .client()
              .list("labels.\"containerd.io/snapshot/remote\"==\"remote snapshot\"");
      assertThat(remote).as("the layer is committed as a remote snapshot").hasSize(1);
      assertThat(remote.get(0).getLabelsMap())
          .containsEntry("containerd.io/snapshot/overlaybd/blob-digest", LAYER)
          .containsEntry("containerd.io/snapshot/cri.image-ref", ref);

      String out = env.containerd.runContainer("k8s.io", SNAPSHOTTER, ref, "hello-cri-proxy");
      assertThat(out).contains("Hello from Docker!");
      assertThat(layerBlobGets(registry, "private/hello"))
          .as("the container's reads went to the registry, lazily, with kubelet's credentials")
          .isGreaterThan(before);

      try (CriClient kubelet = new CriClient(env.criProxySocket())) {
        assertThatThrownBy(
                () ->
                    kubelet.pull(
                        deniedRef,
                        AuthConfig.newBuilder()
                            .setUsername("alice")
                            .setPassword("wrong-" + PASSWORD)
                            .build()))
            .isInstanceOf(StatusRuntimeException.class)
            .hasMessageContaining("401 Unauthorized")
            .hasMessageNotContaining(PASSWORD);
      }

      // obd-backstore keeps pushed credentials in memory only: a restarted one gets them again
      env.stopBackstore();
      env.startBackstore();
      BackstoreClient backstore = new BackstoreClient(env.backstoreSocket());
      String repoBlobUrl = "http://" + registry.host() + "/v2/private/hello/blobs";
      long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (true) {
        try {
          backstore.checkBlob(repoBlobUrl, LAYER, LAYER_SIZE, Duration.ofSeconds(10));
          break;
        } catch (BlobAccessDeniedException | BackstoreUnavailableException e) {
          if (System.nanoTime() > end) {
            throw new AssertionError(
                "the restarted obd-backstore was not handed kubelet's credentials again within"
                    + " 30 s",
                e);
          }
          Thread.sleep(200);
        }
      }

      // what was written, not what is served: no walk into the image device's mounts (its nbdfuse
      // file would be read from the registry whole)
      List<Path> mounts = env.mountsBelow().stream().map(Path::of).toList();
      List<String> holders = new ArrayList<>();
      for (Path root : List.of(env.dir, dir)) {
        Files.walkFileTree(
            root,
            new SimpleFileVisitor<>() {
              @Override
              public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) {
                return mounts.contains(d) ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
              }

              @Override
              public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                if (a.isRegularFile()
                    && !mounts.contains(f)
                    && (holds(f, PASSWORD) || holds(f, basic))) {
                  holders.add(f.toString());
                }
                return FileVisitResult.CONTINUE;
              }
            });
      }
      assertThat(holders).as("files holding the password or its base64").isEmpty();
      try (Stream<Path> logs = Files.list(env.dir)) {
        assertThat(
                logs.filter(f -> f.getFileName().toString().startsWith("daemon-"))
                    .map(CriProxyPullEndToEndTest::read)
                    .toList())
            .as("obd-snapshotter's debug log, which was searched too")
            .anyMatch(
                l ->
                    l.contains(
                        "PullImage of "
                            + ref
                            + ": credentials for "
                            + registry.host()
                            + "/private/hello kept until"));
      }
    }
  }

  /**
   * Whether {@code file} holds {@code text}, read in chunks: some files here (sparse device images)
   * are larger than an array can be.
   */
  private static boolean holds(Path file, String text) throws IOException {
    int overlap = text.length() - 1;
    try (var in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 20];
      String tail = "";
      int n;
      while ((n = in.readNBytes(buf, 0, buf.length)) > 0) {
        String chunk = tail + new String(buf, 0, n, StandardCharsets.ISO_8859_1);
        if (chunk.contains(text)) {
          return true;
        }
        tail = chunk.substring(Math.max(0, chunk.length() - overlap));
      }
    }
    return false;
  }

  private static String read(Path f) {
    try {
      return Files.readString(f);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static long layerBlobGets(LocalRegistry registry, String repository) throws Exception {
    return Files.readAllLines(registry.log()).stream()
        .filter(l -> l.contains("GET /v2/" + repository + "/blobs/" + LAYER))
        .count();
  }
}
