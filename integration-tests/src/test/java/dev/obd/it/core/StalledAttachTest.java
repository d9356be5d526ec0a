package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.util.concurrent.ListenableFuture;
import dev.obd.it.e2e.support.Backstore;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.it.support.StallingProxy;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsResponse;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotResponse;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.grpc.Http2Preface;
import dev.obd.testsupport.oci.ObdImages;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * containerd keeps one connection per proxy plugin, so a call that waits on a netty I/O thread
 * stalls every other call on that event loop. Here an OverlayBD container's device attach really
 * stalls: obd-backstore reads the image from a registry behind a loopback proxy that stops
 * forwarding, for 30 s. Meanwhile the Prepare that attaches and a Mounts of the same container
 * (which waits for that device) are in flight on the connection containerd would use, and Stat,
 * List and a new connection must still be answered as usual.
 */
class StalledAttachTest {
  /** The layer of the hello-world image converted by the official OverlayBD convertor. */
  private static final String LAYER =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";

  private static final long LAYER_SIZE = 642560;
  private static final Duration STALL = Duration.ofSeconds(30);

  /**
   * How fast Stat, List and a new connection are answered. On this shared 2-core machine, with
   * other builds beside the tests, scheduling alone delays single calls by more now and then, so
   * the median of the probes is held to it; no probe may take {@link #NEVER_WAITS}: one queued
   * behind the attach would wait for the whole stall.
   */
  private static final Duration ANSWERED_WITHIN = Duration.ofMillis(50);

  private static final Duration NEVER_WAITS = Duration.ofSeconds(1);

  private Path dir;
  private LocalRegistry registry;
  private StallingProxy proxy;
  private ChildProcess backstore;
  private SnapshotterDaemon daemon;

  /** Calls left in flight when the test fails: awaited before the daemon stops. */
  private final List<ListenableFuture<?>> inFlight = new ArrayList<>();

  @BeforeEach
  void setUp() throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    Path hello = Requirements.requireSharedTestData("hello-world-obd");
    dir = Files.createTempDirectory("obd-stalled-attach-");
    registry = LocalRegistry.start(dir.resolve("registry"));
    ObdImages.push(hello, "amd64-converted", registry.host() + "/hello:amd64-converted");
    proxy = StallingProxy.start(Integer.parseInt(registry.host().split(":")[1]));
    backstore = Backstore.start(dir.resolve("backstore"));
    Path config = dir.resolve("obd-config.json");
    Files.writeString(
        config,
        ("{\"attacher\": \"nbd\", \"backstoreAddress\": \"%s\","
                + " \"mirrorRegistry\": [{\"host\": \"%s\", \"insecure\": true}]}")
            .formatted(Backstore.socket(dir.resolve("backstore")), proxy.host()));
    daemon =
        SnapshotterDaemon.start(
            dir.resolve("root"), dir.resolve("obd.sock"), "--config", config.toString());
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      if (proxy != null) {
        proxy.release();
      }
      // an attach cut off half-way (daemon stopped, backstore stopped) leaves its nbdfuse behind
      for (ListenableFuture<?> call : inFlight) {
        try {
          call.get(3, TimeUnit.MINUTES);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
          System.err.println("call in flight at the end of the test: " + e);
        }
      }
      if (daemon != null) {
        daemon.close();
        Containerd.unmountBelow(dir.resolve("root"));
      }
      if (backstore != null) {
        Backstore.stop(backstore, dir.resolve("backstore"));
      }
    } finally {
      if (proxy != null) {
        proxy.close();
      }
      if (registry != null) {
        registry.close();
      }
      if (dir != null) {
        Containerd.unmountBelow(dir);
        Layers.deleteTree(dir);
      }
    }
  }

  @Test
  void statListAndNewConnectionsAreAnsweredWhileAnAttachStalls() throws Exception {
    SnapshotsClient c = daemon.client();
    String chain = "sha256:" + "c".repeat(64);
    Map<String, String> layerLabels =
        Map.of(
            "containerd.io/snapshot.ref",
            chain,
            "containerd.io/snapshot/overlaybd/blob-digest",
            LAYER,
            "containerd.io/snapshot/overlaybd/blob-size",
            Long.toString(LAYER_SIZE),
            "containerd.io/snapshot/cri.image-ref",
            proxy.host() + "/hello:amd64-converted");
    try {
      c.prepare("extract-1 " + chain, "", layerLabels);
    } catch (StatusRuntimeException e) {
      assertThat(e.getStatus().getCode().name())
          .as("a remote layer is recorded and answered ALREADY_EXISTS")
          .isEqualTo("ALREADY_EXISTS");
    }
    // the client's own code warmed up, so that only the daemon is timed
    for (int i = 0; i < 20; i++) {
      c.stat(chain);
      c.list();
      try (SnapshotsClient fresh = SnapshotsClient.connect(daemon.socket())) {
        fresh.stat(chain);
      }
      Http2Preface.exchange(daemon.socket(), System.nanoTime());
    }

    proxy.stall();
    var async = SnapshotsGrpc.newFutureStub(c.channel()).withDeadlineAfter(5, TimeUnit.MINUTES);
    ListenableFuture<PrepareSnapshotResponse> container =
        async.prepare(
            PrepareSnapshotRequest.newBuilder().setKey("container").setParent(chain).build());
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (proxy.heldRequests() == 0 && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    assertThat(proxy.heldRequests()).as("the attach reached the stalled registry").isPositive();
    ListenableFuture<MountsResponse> mounts =
        async.mounts(MountsRequest.newBuilder().setKey("container").build());
    inFlight.add(container);
    inFlight.add(mounts);

    Map<String, List<Long>> millis = new TreeMap<>();
    long stallEnd = System.nanoTime() + STALL.toNanos();
    while (System.nanoTime() < stallEnd) {
      time(millis, "Stat on the busy connection", () -> c.stat(chain));
      time(millis, "List on the busy connection", () -> assertThat(c.list()).isNotEmpty());
      time(
          millis,
          "preface of a new connection",
          () -> Http2Preface.exchange(daemon.socket(), System.nanoTime()));
      try (SnapshotsClient fresh = SnapshotsClient.connect(daemon.socket())) {
        awaitReady(fresh);
        time(millis, "Stat on a new connection", () -> fresh.stat(chain));
      }
      Thread.sleep(500);
    }
    millis.forEach(
        (what, samples) -> {
          List<Long> sorted = samples.stream().sorted().toList();
          assertThat(sorted.get(sorted.size() - 1))
              .as("%s: no answer waited for the attach (ms: %s)", what, samples)
              .isLessThan(NEVER_WAITS.toMillis());
          assertThat(sorted.get(sorted.size() / 2))
              .as("%s: the median answer (ms: %s)", what, samples)
              .isLessThanOrEqualTo(ANSWERED_WITHIN.toMillis());
        });

    assertThat(container.isDone()).as("the attach was stalled all along").isFalse();
    assertThat(mounts.isDone()).as("Mounts waited for the stalled device").isFalse();

    proxy.release();
    // the calls end either way once the registry answers again (tearDown awaits them)
  }

  @FunctionalInterface
  private interface Probe {
    void run() throws Exception;
  }

  /** Adds how long {@code probe} took, in milliseconds, to the samples of {@code what}. */
  private static void time(Map<String, List<Long>> millis, String what, Probe probe)
      throws Exception {
    long a = System.nanoTime();
    probe.run();
    millis.computeIfAbsent(what, k -> new ArrayList<>()).add((System.nanoTime() - a) / 1_000_000);
  }

  /** The client's side of a new connection (channel set-up, HTTP/2 handshake), untimed. */
  private static void awaitReady(SnapshotsClient client) throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (client.channel().getState(true) != io.grpc.ConnectivityState.READY) {
      if (System.nanoTime() > end) {
        throw new AssertionError("a new connection was not ready within 10 s");
      }
      Thread.sleep(1);
    }
  }
}
