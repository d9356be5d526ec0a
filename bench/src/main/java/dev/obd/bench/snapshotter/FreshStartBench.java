package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.testsupport.grpc.Http2Preface;
import java.io.IOException;
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
 * What a node sees after the snapshotter (re)starts: obd-snapshotter next to containerd's overlayfs
 * snapshotter behind containerd's Go gRPC adapter (src/main/go/overlay-baseline, asynchronous
 * removal as containerd configures it by default), each started fresh for every round, with no
 * warm-up from the client: start to socket, the first connection's HTTP/2 preface (timed from the
 * socket's appearance, as containerd dials at once), the first RPC, the first 100 Prepare/Commit
 * pairs, a 32-layer chain with real mounts; idle RSS after start. Then the same two daemons after
 * 1,000 warm-up cycles: sequential and 8-client Prepare→Commit→Stat→Remove cycles and the chain.
 *
 * <p>Rounds alternate between the two daemons, the order flipping each round; the client JVM is
 * warmed up first against both, so that only the daemons are fresh. The launcher's start-up archive
 * is made before anything is measured ({@code OBD_ARCHIVE=make}), as the install or the first start
 * after an upgrade leaves it. Prints Markdown for BENCHMARKS.md, with the load average at each
 * round: run it once on a quiet machine and once beside a parallel build.
 *
 * <p>Usage (root): {@code bench/run dev.obd.bench.snapshotter.FreshStartBench OBD_LAUNCHER
 * GO_BASELINE [ROUNDS] [WARM_CYCLES] [SECONDS_PER_WARM_ROUND]}; a daemon command may carry
 * arguments, separated by spaces. Several obd-snapshotter commands, separated by commas, are
 * measured side by side in the same rounds (e.g. two wrapper scripts setting different {@code
 * OBD_JAVA_OPTS} and {@code OBD_CDS_DIR}), each against the same Go baseline.
 */
public final class FreshStartBench {
  private static final int FIRST_PAIRS = 100;
  private static final int CHAIN = 32;
  private static final int WARM_ROUNDS = 4;

  /** One daemon under measurement: how to start it and what was measured. */
  private static final class Arm {
    final String name;
    final List<String> command;
    final Map<String, Stats> stats = new LinkedHashMap<>();
    final Map<String, Long> elapsed = new HashMap<>();
    final Map<String, Long> counts = new HashMap<>();

    Arm(String name, List<String> command) {
      this.name = name;
      this.command = command;
    }

    Stats stats(String measure) {
      return stats.computeIfAbsent(measure, k -> new Stats());
    }

    String dir() {
      return name.replaceAll("\\W", "_");
    }
  }

  @FunctionalInterface
  private interface Step {
    void run(Arm arm, int round) throws Exception;
  }

  private final Path work;
  private final List<Arm> arms;
  private final List<String> loads = new ArrayList<>();
  private int starts;

  private FreshStartBench(Path work, List<Arm> arms) {
    this.work = work;
    this.arms = arms;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println(
          "usage: FreshStartBench OBD_LAUNCHER GO_BASELINE [ROUNDS] [WARM_CYCLES] [SECONDS]");
      System.exit(2);
    }
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
    int warmCycles = args.length > 3 ? Integer.parseInt(args[3]) : 1000;
    int seconds = args.length > 4 ? Integer.parseInt(args[4]) : 5;
    List<Arm> arms = new ArrayList<>();
    String[] launchers = args[0].split(",");
    for (String launcher : launchers) {
      makeArchive(launcher.split(" ")[0]);
      String name =
          launchers.length == 1
              ? "obd-snapshotter"
              : "obd " + Path.of(launcher.split(" ")[0]).getFileName();
      arms.add(new Arm(name, List.of(launcher.split(" "))));
    }
    arms.add(new Arm("Go overlayfs baseline", List.of(args[1].split(" "))));
    Path work = Files.createTempDirectory("obd-fresh-bench-");
    try {
      FreshStartBench b = new FreshStartBench(work, arms);
      b.alternate(1, b::warmTheClient);
      b.alternate(rounds, b::fresh);
      b.alternate(3, b::idleRss);
      b.warm(warmCycles, seconds);
      b.print(rounds, warmCycles);
    } finally {
      new ProcessBuilder("rm", "-rf", work.toString()).inheritIO().start().waitFor();
    }
  }

  /** The launcher's start-up archive, as an install leaves it; made once, before measuring. */
  private static void makeArchive(String launcher) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(launcher).inheritIO();
    pb.environment().put("OBD_ARCHIVE", "make");
    if (pb.start().waitFor() != 0) {
      throw new IOException(launcher + " could not make its start-up archive");
    }
  }

  private void alternate(int rounds, Step step) throws Exception {
    for (int r = 0; r < rounds; r++) {
      List<Arm> order = new ArrayList<>(arms);
      if (r % 2 == 1) {
        Collections.reverse(order);
      }
      for (Arm a : order) {
        step.run(a, r);
      }
    }
  }

  private FreshDaemon startFresh(Arm arm) throws IOException, InterruptedException {
    return FreshDaemon.start(arm.name, arm.command, work.resolve(arm.dir() + "-" + starts++));
  }

  /** Untimed: the client's own code compiled before any daemon is measured. */
  private void warmTheClient(Arm arm, int round) throws Exception {
    try (FreshDaemon d = startFresh(arm)) {
      cycles(d.stub(), "client-warm-up", 300, null);
      LayerChain.build(d.stub(), "client-warm-up-chain", CHAIN, d.root.resolveSibling("mnt"));
    }
  }

  private void fresh(Arm arm, int round) throws Exception {
    loads.add(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    try (FreshDaemon d = startFresh(arm)) {
      arm.stats("start").add(d.startToSocketNanos);
      arm.stats("preface").add(d.firstPrefaceNanos);
      arm.stats("preface2").add(Http2Preface.exchange(d.socket, System.nanoTime()));
      SnapshotsBlockingStub s = d.stub();
      long t0 = System.nanoTime();
      for (int i = 0; i < FIRST_PAIRS; i++) {
        long a = System.nanoTime();
        s.prepare(PrepareSnapshotRequest.newBuilder().setKey("first-" + i).build());
        long b = System.nanoTime();
        s.commit(
            CommitSnapshotRequest.newBuilder()
                .setName("first-" + i + "-c")
                .setKey("first-" + i)
                .build());
        long c = System.nanoTime();
        if (i == 0) {
          arm.stats("first rpc").add(b - a);
        }
        arm.stats("first prepare").add(b - a);
        arm.stats("first commit").add(c - b);
      }
      arm.stats("first 100").add(System.nanoTime() - t0);
      LayerChain.Timing chain =
          LayerChain.build(s, "fresh-chain", CHAIN, d.root.resolveSibling("mnt"));
      arm.stats("fresh chain").add(chain.totalNanos());
      arm.stats("fresh chain prepare").add(chain.prepareNanos());
      arm.stats("fresh chain commit").add(chain.commitNanos());
    }
  }

  private void idleRss(Arm arm, int round) throws Exception {
    try (FreshDaemon d = startFresh(arm)) {
      Thread.sleep(3000);
      arm.stats("idle rss").add(d.rssKiB());
    }
  }

  /** Both daemons fresh, {@code warmCycles} untimed cycles each, then the timed rounds. */
  private void warm(int warmCycles, int seconds) throws Exception {
    Map<Arm, FreshDaemon> daemons = new HashMap<>();
    try {
      for (Arm a : arms) {
        daemons.put(a, startFresh(a));
      }
      alternate(4, (a, r) -> cycles(daemons.get(a).stub(), "warm-up-" + r, warmCycles / 4, null));
      alternate(WARM_ROUNDS, (a, r) -> timedCycles(a, daemons.get(a), 1, seconds, "seq"));
      alternate(WARM_ROUNDS, (a, r) -> timedCycles(a, daemons.get(a), 8, seconds, "8"));
      alternate(
          WARM_ROUNDS,
          (a, r) -> {
            FreshDaemon d = daemons.get(a);
            LayerChain.Timing t =
                LayerChain.build(d.stub(), "warm-chain-" + r, CHAIN, d.root.resolveSibling("mnt"));
            a.stats("warm chain").add(t.totalNanos());
          });
      Thread.sleep(3000);
      for (Arm a : arms) {
        a.stats("rss after").add(daemons.get(a).rssKiB());
      }
    } finally {
      for (FreshDaemon d : daemons.values()) {
        d.close();
      }
    }
  }

  /** Prepare → Commit → Stat → Remove, {@code n} times; per-RPC times into {@code arm}. */
  private static void cycles(SnapshotsBlockingStub s, String prefix, int n, Arm arm) {
    for (int i = 0; i < n; i++) {
      cycle(s, prefix + "-" + i, arm);
    }
  }

  private static void cycle(SnapshotsBlockingStub s, String key, Arm arm) {
    String name = key + "-c";
    long a = System.nanoTime();
    s.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).build());
    long b = System.nanoTime();
    s.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).build());
    long c = System.nanoTime();
    s.stat(StatSnapshotRequest.newBuilder().setKey(name).build());
    long d = System.nanoTime();
    s.remove(RemoveSnapshotRequest.newBuilder().setKey(name).build());
    long e = System.nanoTime();
    if (arm != null) {
      synchronized (arm) {
        arm.stats("Prepare").add(b - a);
        arm.stats("Commit").add(c - b);
        arm.stats("Stat").add(d - c);
        arm.stats("Remove").add(e - d);
      }
    }
  }

  private void timedCycles(Arm arm, FreshDaemon d, int clients, int seconds, String measure)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
    List<Future<Integer>> done = new ArrayList<>();
    for (int c = 0; c < clients; c++) {
      String prefix = measure + "-" + t0 + "-" + c + "-";
      SnapshotsBlockingStub s = d.stub();
      done.add(
          pool.submit(
              () -> {
                int n = 0;
                while (System.nanoTime() < end) {
                  cycle(s, prefix + n, clients == 1 ? arm : null);
                  n++;
                }
                return n;
              }));
    }
    long n = 0;
    for (Future<Integer> f : done) {
      n += f.get();
    }
    pool.shutdown();
    arm.elapsed.merge(measure, System.nanoTime() - t0, Long::sum);
    arm.counts.merge(measure, n, Long::sum);
  }

  private void print(int rounds, int warmCycles) {
    List<Arm> obd = arms.subList(0, arms.size() - 1);
    Arm go = arms.get(arms.size() - 1);
    System.out.println(
        "Fresh daemons: "
            + rounds
            + " rounds; load average (1 min) at each round: "
            + String.join(", ", loads));
    System.out.println();
    StringBuilder head = new StringBuilder("| measure |");
    StringBuilder rule = new StringBuilder("|---|");
    for (Arm a : arms) {
      head.append(' ').append(a.name).append(" |");
      rule.append("---|");
    }
    for (Arm a : obd) {
      head.append(" ratio (Go ÷ ").append(obd.size() == 1 ? "obd" : a.name).append(") |");
      rule.append("---|");
    }
    System.out.println(head);
    System.out.println(rule);
    row("start to socket, median / max", "start", true);
    row("first connection's preface after the socket appears, p50 / max", "preface", true);
    row("second connection's preface, p50 / max", "preface2", true);
    row("first RPC (Prepare, on a new channel), p50 / max", "first rpc", true);
    row("first 100 Prepare+Commit, median / max", "first 100", true);
    row("… of which Prepare, p50 / p99", "first prepare", false);
    row("… of which Commit, p50 / p99", "first commit", false);
    row("fresh 32-layer chain with mounts, median / max", "fresh chain", true);
    row("… Prepare in the chain, median / max", "fresh chain prepare", true);
    row("… Commit in the chain, median / max", "fresh chain commit", true);
    memoryRow("idle RSS 3 s after start, median of 3", "idle rss");
    String warm = "after " + warmCycles + " warm-up cycles: ";
    rateRow(warm + "cycles/s, 1 client", "seq", go);
    for (String rpc : List.of("Prepare", "Commit", "Stat", "Remove")) {
      row("… " + rpc + " p50 / p99", rpc, false);
    }
    rateRow(warm + "cycles/s, 8 clients", "8", go);
    row(warm + "32-layer chain with mounts, median / max", "warm chain", true);
    memoryRow("RSS after the warm run", "rss after");
  }

  private void memoryRow(String label, String measure) {
    StringBuilder line = new StringBuilder("| " + label + " |");
    for (Arm a : arms) {
      line.append(' ').append((long) a.stats(measure).percentile(50) / 1024).append(" MiB |");
    }
    line.append(" |".repeat(arms.size() - 1));
    System.out.println(line);
  }

  private void rateRow(String label, String measure, Arm go) {
    StringBuilder line = new StringBuilder("| " + label + " |");
    for (Arm a : arms) {
      line.append(String.format(Locale.ROOT, " %.0f |", rate(a, measure)));
    }
    for (Arm a : arms.subList(0, arms.size() - 1)) {
      line.append(String.format(Locale.ROOT, " %.2f |", rate(a, measure) / rate(go, measure)));
    }
    System.out.println(line);
  }

  private static double rate(Arm a, String measure) {
    return a.counts.getOrDefault(measure, 0L) / (a.elapsed.getOrDefault(measure, 1L) / 1e9);
  }

  /** A row of two percentiles (50 and max or 99) per arm, and the ratios of the medians. */
  private void row(String label, String measure, boolean max) {
    double hi = max ? 100 : 99;
    Arm go = arms.get(arms.size() - 1);
    StringBuilder line = new StringBuilder("| " + label + " |");
    for (Arm a : arms) {
      Stats st = a.stats(measure);
      line.append(' ')
          .append(Stats.ms(st.percentileMillis(50)))
          .append(" / ")
          .append(Stats.ms(st.percentileMillis(hi)))
          .append(" |");
    }
    for (Arm a : arms.subList(0, arms.size() - 1)) {
      line.append(
          String.format(
              Locale.ROOT,
              " %.2f |",
              go.stats(measure).percentileMillis(50) / a.stats(measure).percentileMillis(50)));
    }
    System.out.println(line);
  }
}
