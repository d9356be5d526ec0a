package dev.obd.it.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.ImageServiceGrpc;
import dev.obd.proto.cri.v1.ImageSpec;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import dev.obd.testsupport.oci.ObdImages;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A lazy CRI pull from a registry that requires credentials containerd has (kubelet sends them with
 * PullImage) but obd-backstore lacks: with the default {@code remoteAccessCheck} the pull fails at
 * pull time, with the registry's answer in the error, instead of the container's first read failing
 * with EIO. No secret appears in the error or the backstore's log.
 */
class PrivateRegistryPullEndToEndTest {
  private static final String PASSWORD = "e2e-Pa55-kept-by-kubelet";

  @Test
  void aLazyPullWhoseBlobsTheBackstoreCannotReadFailsAtPullTimeWithTheRegistrysAnswer()
      throws Exception {
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("htpasswd");
    Requirements.requireCommand("skopeo");
    Path dir = Files.createTempDirectory("obd-e2e-private-registry-");
    Path htpasswd = dir.resolve("htpasswd");
    Containerd.Result made =
        Containerd.run(
            List.of("htpasswd", "-cbB", htpasswd.toString(), "alice", PASSWORD),
            Duration.ofSeconds(30));
    assertThat(made.exit()).as(made.output()).isZero();
    try {
      pullFailsAtPullTime(hello, htpasswd, dir);
    } finally {
      try (var paths = Files.walk(dir)) {
        paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static void pullFailsAtPullTime(Path hello, Path htpasswd, Path dir) throws Exception {
    try (LocalRegistry registry =
            LocalRegistry.startWithHtpasswd(dir.resolve("registry"), htpasswd);
        E2eEnvironment env =
            E2eEnvironment.builder("private-registry")
                .withBackstore("")
                .registry(registry)
                .start()) {
      String ref = registry.host() + "/private/hello:amd64-converted";
      ObdImages.push(hello, "amd64-converted", ref, "alice:" + PASSWORD);

      try (UnixSocketChannel channel = UnixSocketChannel.open(env.containerd.socket(), 1)) {
        PullImageRequest pull =
            PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(ref))
                .setAuth(AuthConfig.newBuilder().setUsername("alice").setPassword(PASSWORD))
                .build();
        assertThatThrownBy(
                () ->
                    ImageServiceGrpc.newBlockingStub(channel.channel())
                        .withDeadlineAfter(5, TimeUnit.MINUTES)
                        .pullImage(pull))
            .isInstanceOf(StatusRuntimeException.class)
            .hasMessageContaining("cannot be read by obd-backstore (access denied)")
            .hasMessageContaining(
                "no credentials are configured for " + registry.host() + "/private/hello")
            .hasMessageNotContaining(PASSWORD);
      }
      assertThat(
              env.daemon()
                  .client()
                  .list("labels.\"containerd.io/snapshot/remote\"==\"remote snapshot\""))
          .as("no layer was taken as present")
          .isEmpty();
      assertThat(Files.readString(env.dir.resolve("backstore/backstore.log")))
          .doesNotContain(PASSWORD);
    }
  }
}
