package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Snapshots-API benchmark: obd-snapshotter next to containerd's own overlayfs snapshotter served by
 * containerd's own gRPC adapter (the Go baseline, see src/main/go/overlay-baseline), both as
 * separate processes, driven through their unix sockets by the same client in the same run.
 *
 * <p>Fair by construction: both daemons run side by side, the client JVM and both daemons are
 * warmed up before anything is recorded, and every measurement is taken in rounds that alternate
 * between the two daemons, the order flipping each round, so that neither JIT warm-up of the client
 * nor drift of the machine's load favours whichever side happens to go second.
 *
 * <p>Usage: {@code bench/run dev.obd.bench.snapshotter.SnapshotterBench OBD_LAUNCHER GO_BASELINE
 * [SECONDS_PER_ROUND]}. Prints a Markdown table for BENCHMARKS.md.
 */
public final class SnapshotterBench {
  private static final int ROUNDS = 4;
  private static final String CHAIN = "32-layer chain build (median of " + 2 * ROUNDS + ")";

  private final int seconds;

  private SnapshotterBench(int seconds) {
    this.seconds = seconds;
  }

  /**
   * One figure as printed, and the number it compares by: higher is better for a rate, lower for a
   * time; NaN for figures without a ratio (memory, start-up, percentile pairs).
   */
  private record Figure(String text, double value, boolean higherIsBetter) {
    static Figure plain(String text) {
      return new Figure(text, Double.NaN, false);
    }

    static Figure millis(double ms) {
      return new Figure(Stats.ms(ms), ms, false);
    }

    static Figure rate(double perSecond) {
      return new Figure(String.format(Locale.ROOT, "%.0f", perSecond), perSecond, true);
    }
  }

  /** One daemon under measurement, its client channel and what has been measured for it. */
  private static final class Side implements AutoCloseable {
    final String name;
    final String dirName;
    final List<String> command;
    final Map<String, Figure> results = new LinkedHashMap<>();
    final Map<String, Stats> stats = new HashMap<>();
    final Map<String, Long> elapsed = new HashMap<>();

    /** CPU time the daemon process spent during each measure's rounds, in nanoseconds. */
    final Map<String, Long> cpu = new HashMap<>();

    Target target;
    String chainTop;
    UnixSocketChannel channel;
    SnapshotsBlockingStub stub;

    Side(String name, String dirName, List<String> command) {
      this.name = name;
      this.dirName = dirName;
      this.command = command;
    }

    void connect(Path work) throws Exception {
      target = new Target(name, command, work.resolve(dirName).resolve("run"));
      target.start();
      channel = UnixSocketChannel.open(target.socket, 2);
      stub = SnapshotsGrpc.newBlockingStub(channel.channel());
    }

    Stats stats(String measure) {
      return stats.computeIfAbsent(measure, k -> new Stats());
    }

    @Override
    public void close() throws InterruptedException {
      if (channel != null) {
        channel.close();
      }
      if (target != null) {
        target.close();
      }
    }
  }

  /** Something measured on one side; it adds its samples to that side. */
  @FunctionalInterface
  private interface Measurement {
    void run(Side side) throws Exception;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: SnapshotterBench OBD_LAUNCHER GO_BASELINE_BINARY [SECONDS]");
      System.exit(2);
    }
    int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    SnapshotterBench b = new SnapshotterBench(seconds);
    Path work = Files.createTempDirectory("obd-bench-");
    try (Side obd = new Side("obd-snapshotter", "obd", List.of(args[0]));
        Side go = new Side("Go overlayfs baseline", "go", List.of(args[1]))) {
      List<Side> sides = List.of(obd, go);
      for (Side s : sides) {
        startup(s, work.resolve(s.dirName));
      }
      b.measure(sides, work);
      print(sides);
    } finally {
      new ProcessBuilder("rm", "-rf", work.toString()).inheritIO().start().waitFor();
    }
  }

  /** Start-to-ready over five starts (after one that may build a class-data archive) and RSS. */
  private static void startup(Side side, Path dir) throws Exception {
    Files.createDirectories(dir);
    List<Long> starts = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      Target t = new Target(side.name, side.command, dir.resolve("start-" + i));
      t.start();
      if (i > 0) {
        starts.add(t.startToReadyNanos);
      }
      if (i == 5) {
        Thread.sleep(3000);
        side.results.put("idle RSS after start", Figure.plain(t.rssKiB() / 1024 + " MiB"));
        // the JIT's arenas and idle compiler threads are given back some seconds later
        Thread.sleep(7000);
        side.results.put("idle RSS 10 s after start", Figure.plain(t.rssKiB() / 1024 + " MiB"));
      }
      t.stop();
    }
    starts.sort(null);
    side.results.put("start to ready (median of 5)", Figure.plain(Stats.ms(starts.get(2) / 1e6)));
  }

  private void measure(List<Side> sides, Path work) throws Exception {
    for (Side s : sides) {
      s.connect(work);
    }
    // warm-up: the client's JIT and both daemons, nothing recorded
    alternate(sides, 2, s -> cycles(s, 1, 2, "warm", false));
    alternate(sides, 1, s -> cycles(s, 8, 2, "warm8", false));

    alternate(sides, ROUNDS, s -> cycles(s, 1, seconds, "1", true));
    alternate(sides, ROUNDS, s -> cycles(s, 8, seconds, "8", true));
    for (Side s : sides) {
      s.results.put("cycles/s, 1 client", rate(s, "1"));
      s.results.put("cycle p50 / p99, 1 client", Figure.plain(latency(s.stats("1"))));
      s.results.put("daemon CPU per cycle, 1 client", cpuPerCycle(s, "1"));
      s.results.put("cycles/s, 8 clients", rate(s, "8"));
      s.results.put("cycle p50 / p99, 8 clients", Figure.plain(latency(s.stats("8"))));
      s.results.put("daemon CPU per cycle, 8 clients", cpuPerCycle(s, "8"));
    }

    int[] chainRun = new int[1];
    alternate(sides, 2 * ROUNDS, s -> chain(s, chainRun[0]++));
    for (Side s : sides) {
      s.stub.prepare(
          PrepareSnapshotRequest.newBuilder().setKey("chain-top").setParent(s.chainTop).build());
      s.results.put(CHAIN, Figure.millis(s.stats("chain").percentileMillis(50)));
    }
    alternate(sides, 1, s -> mounts(s, 500, false));
    alternate(sides, ROUNDS, s -> mounts(s, 500, true));
    for (Side s : sides) {
      s.results.put(
          "Mounts on a 32-layer chain, p50 / p99", Figure.plain(latency(s.stats("mounts"))));
    }

    for (Side s : sides) {
      createListed(s);
    }
    String filter =
        "labels.\"containerd.io/snapshot.ref\"=="
            + String.format("sha256:%064d", 500)
            + ",parent==\"list-base-c\"";
    ListSnapshotsRequest all = ListSnapshotsRequest.getDefaultInstance();
    ListSnapshotsRequest one = ListSnapshotsRequest.newBuilder().addFilters(filter).build();
    alternate(sides, 1, s -> list(s, all, 1001, 50, null));
    alternate(sides, ROUNDS, s -> list(s, all, 1001, 75, "list"));
    alternate(sides, 1, s -> list(s, one, 1, 500, null));
    alternate(sides, ROUNDS, s -> list(s, one, 1, 400, "filtered"));
    for (Side s : sides) {
      s.results.put("List of 1,000, p50", Figure.millis(s.stats("list").percentileMillis(50)));
      s.results.put(
          "filtered List of 1,000, p50", Figure.millis(s.stats("filtered").percentileMillis(50)));
    }

    Thread.sleep(3000);
    for (Side s : sides) {
      s.results.put("idle RSS after the run", Figure.plain(s.target.rssKiB() / 1024 + " MiB"));
    }
  }

  /**
   * Runs {@code m} {@code rounds} times on every side, the order of the sides flipping each round.
   */
  private static void alternate(List<Side> sides, int rounds, Measurement m) throws Exception {
    for (int r = 0; r < rounds; r++) {
      List<Side> order = new ArrayList<>(sides);
      if (r % 2 == 1) {
        Collections.reverse(order);
      }
      for (Side s : order) {
        m.run(s);
      }
    }
  }

  /** Prepare → Commit → Stat → Remove cycles from {@code clients} threads for some seconds. */
  private static void cycles(Side side, int clients, int secs, String measure, boolean record)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<Stats>> futures = new ArrayList<>();
    long cpu0 = side.target.cpuNanos();
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.SECONDS.toNanos(secs);
    String round = measure + "-" + t0 + "-";
    for (int c = 0; c < clients; c++) {
      String prefix = "cycle-" + round + c + "-";
      futures.add(
          pool.submit(
              () -> {
                Stats s = new Stats();
                for (int i = 0; System.nanoTime() < end; i++) {
                  long a = System.nanoTime();
                  String key = prefix + i;
                  String name = key + "-c";
                  side.stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).build());
                  side.stub.commit(
                      CommitSnapshotRequest.newBuilder().setName(name).setKey(key).build());
                  side.stub.stat(StatSnapshotRequest.newBuilder().setKey(name).build());
                  side.stub.remove(RemoveSnapshotRequest.newBuilder().setKey(name).build());
                  s.add(System.nanoTime() - a);
                }
                return s;
              }));
    }
    Stats all = new Stats();
    for (Future<Stats> f : futures) {
      all.addAll(f.get());
    }
    long took = System.nanoTime() - t0;
    long cpu = side.target.cpuNanos() - cpu0;
    pool.shutdown();
    if (record) {
      side.stats(measure).addAll(all);
      side.elapsed.merge(measure, took, Long::sum);
      side.cpu.merge(measure, cpu, Long::sum);
    }
  }

  private static Figure rate(Side side, String measure) {
    return Figure.rate(side.stats(measure).count() / (side.elapsed.get(measure) / 1e9));
  }

  /** The daemon's CPU time (user + system, all its threads) per cycle. */
  private static Figure cpuPerCycle(Side side, String measure) {
    return Figure.millis(side.cpu.get(measure) / 1e6 / side.stats(measure).count());
  }

  private static String latency(Stats s) {
    return Stats.ms(s.percentileMillis(50)) + " / " + Stats.ms(s.percentileMillis(99));
  }

  /** Builds one 32-layer chain (Prepare + Commit each), timed as a whole. */
  private static void chain(Side side, int run) {
    long a = System.nanoTime();
    String parent = "";
    for (int i = 0; i < 32; i++) {
      String key = "chain-" + run + "-" + i;
      side.stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).build());
      side.stub.commit(CommitSnapshotRequest.newBuilder().setName(key + "-c").setKey(key).build());
      parent = key + "-c";
    }
    side.stats("chain").add(System.nanoTime() - a);
    side.chainTop = parent;
  }

  /** Mounts of the active snapshot on top of the last chain. */
  private static void mounts(Side side, int calls, boolean record) {
    for (int i = 0; i < calls; i++) {
      long a = System.nanoTime();
      side.stub.mounts(MountsRequest.newBuilder().setKey("chain-top").build());
      if (record) {
        side.stats("mounts").add(System.nanoTime() - a);
      }
    }
  }

  /**
   * 1,000 active snapshots on one committed parent, each with the label the unpacker filters on.
   */
  private static void createListed(Side side) {
    side.stub.prepare(PrepareSnapshotRequest.newBuilder().setKey("list-base").build());
    side.stub.commit(
        CommitSnapshotRequest.newBuilder().setName("list-base-c").setKey("list-base").build());
    for (int i = 0; i < 1000; i++) {
      side.stub.prepare(
          PrepareSnapshotRequest.newBuilder()
              .setKey(String.format("list-%04d", i))
              .setParent("list-base-c")
              .putLabels("containerd.io/snapshot.ref", String.format("sha256:%064d", i))
              .build());
    }
  }

  /**
   * Lists {@code calls} times, checking that at least {@code expected} snapshots come back
   * (exactly, for a filtered list), and records the latencies under {@code measure} unless null.
   */
  private static void list(
      Side side, ListSnapshotsRequest request, int expected, int calls, String measure) {
    for (int i = 0; i < calls; i++) {
      long a = System.nanoTime();
      int n = 0;
      var it = side.stub.list(request);
      while (it.hasNext()) {
        n += it.next().getInfoCount();
      }
      if (n < expected || (expected == 1 && n != 1)) {
        throw new IllegalStateException(side.name + ": List returned " + n);
      }
      if (measure != null) {
        side.stats(measure).add(System.nanoTime() - a);
      }
    }
  }

  /**
   * The table, with the ratio obd-snapshotter ÷ baseline for rates and baseline ÷ obd-snapshotter
   * for times, so that above 1 always means obd-snapshotter is better.
   */
  private static void print(List<Side> sides) {
    Side obd = sides.get(0);
    Side base = sides.get(1);
    System.out.println(
        "| measure | " + obd.name + " | " + base.name + " | ratio (> 1: obd-snapshotter better) |");
    System.out.println("|---|---|---|---|");
    for (Map.Entry<String, Figure> e : obd.results.entrySet()) {
      Figure a = e.getValue();
      Figure b = base.results.get(e.getKey());
      double ratio = a.higherIsBetter() ? a.value() / b.value() : b.value() / a.value();
      String shown = Double.isNaN(ratio) ? "" : String.format(Locale.ROOT, "%.2f", ratio);
      System.out.println(
          "| " + e.getKey() + " | " + a.text() + " | " + b.text() + " | " + shown + " |");
    }
  }
}
