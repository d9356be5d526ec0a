package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.snapshotter.api.SnapshotsService;
import dev.obd.snapshotter.api.StrictRequestParsing;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.daemon.UnixSocketServer;
import dev.obd.snapshotter.device.NbdAttacher;
import dev.obd.snapshotter.overlay.OverlayFeatures;
import dev.obd.snapshotter.overlay.OverlaySnapshotter;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a Prepare→Commit→Stat→Remove cycle's time goes inside obd-snapshotter: the same snapshotter
 * called directly (metadata store, directories, fsyncs) and through its own gRPC server on a unix
 * socket in the same JVM (what the transport adds: HTTP/2, protobuf, thread hand-offs), alternating
 * rounds, with synchronous and asynchronous removal. The client is the same Java gRPC client as
 * {@link SnapshotterBench}'s, so "over gRPC" minus "direct" is the server's and the client's
 * transport cost together.
 *
 * <p>Usage: {@code bench/run dev.obd.bench.snapshotter.CallCostBench [CYCLES_PER_ROUND
 * [STANDING]]}: {@code STANDING} committed snapshots (default 0) stay in the store throughout, as a
 * node's images do, so per-call costs that grow with the store show.
 */
public final class CallCostBench {
  private static final String[] OPS = {"Prepare", "Commit", "Stat", "Remove"};
  private static final int ROUNDS = 4;

  /** One way to make the four calls. */
  private interface Calls {
    void cycle(String key) throws Exception;
  }

  private CallCostBench() {}

  public static void main(String[] args) throws Exception {
    int cycles = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    int standing = args.length > 1 ? Integer.parseInt(args[1]) : 0;
    Path work = Files.createTempDirectory("obd-callcost-");
    try {
      System.out.println(standing + " standing snapshots, " + cycles + " cycles per round");
      System.out.println(
          "| removal | call | direct p50 / p99 | over gRPC p50 / p99 | transport's share of p50 |");
      System.out.println("|---|---|---|---|---|");
      for (boolean async : new boolean[] {false, true}) {
        run(work.resolve(async ? "async" : "sync"), async, cycles, standing);
      }
    } finally {
      new ProcessBuilder("rm", "-rf", work.toString()).inheritIO().start().waitFor();
    }
  }

  private static void run(Path dir, boolean async, int cycles, int standing) throws Exception {
    Path root = dir.resolve("root");
    Files.createDirectories(dir);
    Stats[][] stats = new Stats[2][OPS.length];
    reset(stats);
    try (OverlaySnapshotter s =
        OverlaySnapshotter.open(
            root,
            async,
            OverlayFeatures.detect(),
            new OverlaySnapshotter.BlockSupport(
                d -> new NbdAttacher(dir.resolve("no-backstore.sock"), d),
                "ext4",
                root.resolve("record-trace"),
                List.of(),
                false,
                RwMode.OVERLAYFS))) {
      for (int i = 0; i < standing; i++) {
        s.prepare("standing-" + i, "", Map.of());
        s.commit("standing-" + i + "-c", "standing-" + i, Map.of(), "");
      }
      UnixSocketServer server =
          UnixSocketServer.start(
              dir.resolve("s.sock"),
              List.of(StrictRequestParsing.apply(new SnapshotsService(s).bindService())));
      try (UnixSocketChannel channel = UnixSocketChannel.open(dir.resolve("s.sock"), 2)) {
        SnapshotsBlockingStub stub = SnapshotsGrpc.newBlockingStub(channel.channel());
        Calls direct =
            timed(
                stats[0],
                k -> s.prepare(k, "", Map.of()),
                k -> s.commit(k + "-c", k, Map.of(), ""),
                k -> s.stat(k + "-c"),
                k -> s.remove(k + "-c"));
        Calls grpc =
            timed(
                stats[1],
                k -> stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(k).build()),
                k ->
                    stub.commit(
                        CommitSnapshotRequest.newBuilder().setName(k + "-c").setKey(k).build()),
                k -> stub.stat(StatSnapshotRequest.newBuilder().setKey(k + "-c").build()),
                k -> stub.remove(RemoveSnapshotRequest.newBuilder().setKey(k + "-c").build()));
        // untimed warm-up of both paths, then alternating rounds, the order flipping each round
        for (int i = 0; i < cycles; i++) {
          direct.cycle("warm-d-" + i);
          grpc.cycle("warm-g-" + i);
        }
        reset(stats); // the calls record into these arrays: from here on, what counts
        for (int r = 0; r < ROUNDS; r++) {
          Calls first = r % 2 == 0 ? direct : grpc;
          Calls second = r % 2 == 0 ? grpc : direct;
          for (int i = 0; i < cycles; i++) {
            first.cycle("r" + r + "-a-" + i);
          }
          for (int i = 0; i < cycles; i++) {
            second.cycle("r" + r + "-b-" + i);
          }
        }
      } finally {
        server.shutdown(5000);
      }
      s.cleanup();
    }
    double directSum = 0;
    double grpcSum = 0;
    for (int i = 0; i < OPS.length; i++) {
      double d = stats[0][i].percentileMillis(50);
      double g = stats[1][i].percentileMillis(50);
      directSum += d;
      grpcSum += g;
      System.out.println(
          String.format(
              Locale.ROOT,
              "| %s | %s | %s / %s | %s / %s | %.0f %% |",
              async ? "async" : "sync",
              OPS[i],
              Stats.ms(d),
              Stats.ms(stats[0][i].percentileMillis(99)),
              Stats.ms(g),
              Stats.ms(stats[1][i].percentileMillis(99)),
              100 * (g - d) / g));
    }
    System.out.println(
        String.format(
            Locale.ROOT,
            "| %s | sum of p50s | %s | %s | %.0f %% |",
            async ? "async" : "sync",
            Stats.ms(directSum),
            Stats.ms(grpcSum),
            100 * (grpcSum - directSum) / grpcSum));
  }

  private static void reset(Stats[][] stats) {
    for (Stats[] row : stats) {
      for (int i = 0; i < row.length; i++) {
        row[i] = new Stats();
      }
    }
  }

  /** One call of a cycle, given the cycle's key. */
  private interface Call {
    void run(String key) throws Exception;
  }

  private static Calls timed(Stats[] into, Call... calls) {
    return key -> {
      for (int i = 0; i < calls.length; i++) {
        long a = System.nanoTime();
        calls[i].run(key);
        into[i].add(System.nanoTime() - a);
      }
    };
  }
}
