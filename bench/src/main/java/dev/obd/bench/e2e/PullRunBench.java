package dev.obd.bench.e2e;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Pull + unpack + first run of ordinary images through obd-snapshotter next to containerd's
 * built-in overlayfs snapshotter: the same containerd, the same local registry, the same run,
 * alternating, each pull from an empty content store (a fresh namespace, removed afterwards).
 *
 * <p>With GO_BASELINE (bench/src/main/go/overlay-baseline: containerd's overlayfs snapshotter
 * behind containerd's gRPC adapter), a third arm runs it as a second proxy plugin of the same
 * containerd. That separates what every proxy snapshotter pays (one gRPC call per snapshot
 * operation instead of an in-process call; upstream's Go overlaybd-snapshotter too) from what is
 * ours.
 *
 * <p>With WARM_CYCLES, each proxy snapshotter first serves that many Prepare → Mounts → Commit →
 * Stat → Remove cycles of its own, untimed, through its socket: a JVM compiles its hot paths only
 * after thousands of calls, so a freshly started obd-snapshotter is slower per call than the one a
 * node has been running for a while. Without it the figures are those of a fresh start.
 *
 * <p>Usage: {@code bench/run dev.obd.bench.e2e.PullRunBench OBD_LAUNCHER [ROUNDS [GO_BASELINE
 * [WARM_CYCLES]]]}.
 */
public final class PullRunBench {
  private static final String GO_PROXY = "go-overlay";

  /** One snapshotter the images are pulled into, as the table names it. */
  private record Arm(String label, String snapshotter) {}

  private PullRunBench() {}

  public static void main(String[] args) throws Exception {
    Path launcher = Path.of(args[0]);
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    Path goBaseline = args.length > 2 && !args[2].equals("-") ? Path.of(args[2]) : null;
    int warmCycles = args.length > 3 ? Integer.parseInt(args[3]) : 0;
    Path dir = Files.createTempDirectory("obd-pullrun-");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"));
        ChildProcess go =
            goBaseline == null
                ? null
                : ChildProcess.start(
                    "go-overlay-baseline",
                    List.of(
                        goBaseline.toString(),
                        "--root",
                        dir.resolve("go-root").toString(),
                        "--address",
                        dir.resolve("go.sock").toString()),
                    dir.resolve("go.log"),
                    Map.of());
        ChildProcess daemon =
            ChildProcess.start(
                "obd-snapshotter",
                List.of(
                    launcher.toString(),
                    "--root",
                    dir.resolve("obd-root").toString(),
                    "--address",
                    dir.resolve("obd.sock").toString()),
                dir.resolve("obd.log"),
                Map.of("OBD_CDS_DIR", dir.resolve("cds").toString()))) {
      daemon.awaitCondition(
          "socket", Duration.ofSeconds(120), () -> Files.exists(dir.resolve("obd.sock")));
      String config = Containerd.config(dir.resolve("containerd"), dir.resolve("obd.sock"));
      if (go != null) {
        go.awaitCondition(
            "socket", Duration.ofSeconds(30), () -> Files.exists(dir.resolve("go.sock")));
        config +=
            "\n[proxy_plugins.%s]\n  type = \"snapshot\"\n  address = \"%s\"\n"
                .formatted(GO_PROXY, dir.resolve("go.sock"));
      }
      warm(dir.resolve("obd.sock"), warmCycles);
      if (go != null) {
        warm(dir.resolve("go.sock"), warmCycles);
      }
      try (Containerd containerd =
          Containerd.start(dir.resolve("containerd"), config, registry.host())) {
        Map<String, String> images = new LinkedHashMap<>();
        images.put(
            "40 layers (busybox + 39 small layers)",
            TestImages.manyLayers("unused", 40)
                .push(
                    Files.createDirectories(dir.resolve("img40")),
                    registry.host(),
                    "bench/forty",
                    "v1"));
        images.put(
            "~300 MB (busybox + 10 layers of 30 MiB)",
            TestImages.randomLayers(10, 30 << 20, 300)
                .push(
                    Files.createDirectories(dir.resolve("img300")),
                    registry.host(),
                    "bench/big",
                    "v1"));
        System.out.println(
            "| image | snapshotter | pull + unpack (median) | first run (median) | total | ratio to overlayfs |");
        System.out.println("|---|---|---|---|---|---|");
        List<Arm> arms = new ArrayList<>();
        arms.add(new Arm("containerd overlayfs (built in)", "overlayfs"));
        if (go != null) {
          arms.add(new Arm("containerd overlayfs as a proxy plugin (Go)", GO_PROXY));
        }
        arms.add(new Arm("obd-snapshotter (proxy plugin)", Containerd.SNAPSHOTTER));
        for (Map.Entry<String, String> image : images.entrySet()) {
          List<List<double[]>> samples = new ArrayList<>();
          arms.forEach(a -> samples.add(new ArrayList<>()));
          for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < arms.size(); i++) {
              samples
                  .get(i)
                  .add(
                      pullAndRun(
                          containerd,
                          arms.get(i).snapshotter(),
                          image.getValue(),
                          "b" + i + "-" + r));
            }
          }
          double[] base = median(samples.get(0));
          for (int i = 0; i < arms.size(); i++) {
            row(image.getKey(), arms.get(i).label(), median(samples.get(i)), base);
          }
        }
      }
    } finally {
      new ProcessBuilder("rm", "-rf", dir.toString()).inheritIO().start().waitFor();
    }
  }

  /** Untimed cycles through a snapshotter's socket, so that its hot paths are compiled. */
  private static void warm(Path socket, int cycles) {
    if (cycles <= 0) {
      return;
    }
    try (UnixSocketChannel ch = UnixSocketChannel.open(socket, 1)) {
      SnapshotsBlockingStub s = SnapshotsGrpc.newBlockingStub(ch.channel());
      s.prepare(PrepareSnapshotRequest.newBuilder().setKey("warm-base").build());
      s.commit(
          CommitSnapshotRequest.newBuilder().setName("warm-base-c").setKey("warm-base").build());
      for (int i = 0; i < cycles; i++) {
        String key = "warm-" + i;
        s.prepare(
            PrepareSnapshotRequest.newBuilder()
                .setKey(key)
                .setParent("warm-base-c")
                .putLabels("containerd.io/snapshot.ref", "sha256:" + key)
                .build());
        s.mounts(MountsRequest.newBuilder().setKey(key).build());
        s.commit(CommitSnapshotRequest.newBuilder().setName(key + "-c").setKey(key).build());
        s.stat(StatSnapshotRequest.newBuilder().setKey(key + "-c").build());
        s.remove(RemoveSnapshotRequest.newBuilder().setKey(key + "-c").build());
      }
      s.remove(RemoveSnapshotRequest.newBuilder().setKey("warm-base-c").build());
    }
  }

  private static void row(String image, String sn, double[] v, double[] base) {
    System.out.println(
        String.format(
            Locale.ROOT,
            "| %s | %s | %.2f s | %.2f s | %.2f s | %.2f |",
            image,
            sn,
            v[0],
            v[1],
            v[0] + v[1],
            (v[0] + v[1]) / (base[0] + base[1])));
  }

  /** Seconds for the pull (with unpack) and for the first {@code ctr run}; then cleans up. */
  private static double[] pullAndRun(Containerd c, String snapshotter, String ref, String ns) {
    long t0 = System.nanoTime();
    c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", snapshotter, ref);
    long t1 = System.nanoTime();
    c.runContainer(ns, snapshotter, ref, "first-run", "/bin/cat", "/data/top");
    long t2 = System.nanoTime();
    c.ctr(ns, "images", "rm", "--sync", ref);
    return new double[] {(t1 - t0) / 1e9, (t2 - t1) / 1e9};
  }

  private static double[] median(List<double[]> samples) {
    double[] out = new double[2];
    for (int i = 0; i < 2; i++) {
      int k = i;
      double[] v = samples.stream().mapToDouble(s -> s[k]).sorted().toArray();
      out[i] = v[v.length / 2];
    }
    return out;
  }
}
