package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.MountsRequest;
import dev.obd.proto.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
 * <p>Usage: {@code bench/run dev.obd.bench.snapshotter.SnapshotterBench OBD_LAUNCHER GO_BASELINE
 * [SECONDS]}. Prints a Markdown table for BENCHMARKS.md.
 */
public final class SnapshotterBench {
  private final int seconds;
  private final Map<String, Map<String, String>> results = new LinkedHashMap<>();

  private SnapshotterBench(int seconds) {
    this.seconds = seconds;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: SnapshotterBench OBD_LAUNCHER GO_BASELINE_BINARY [SECONDS]");
      System.exit(2);
    }
    int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 10;
    SnapshotterBench b = new SnapshotterBench(seconds);
    Path work = Files.createTempDirectory("obd-bench-");
    try {
      b.measure("obd-snapshotter", List.of(args[0]), work.resolve("obd"));
      b.measure("Go overlayfs baseline", List.of(args[1]), work.resolve("go"));
      b.print();
    } finally {
      new ProcessBuilder("rm", "-rf", work.toString()).inheritIO().start().waitFor();
    }
  }

  private void measure(String name, List<String> command, Path dir) throws Exception {
    Files.createDirectories(dir);
    Map<String, String> r = new LinkedHashMap<>();
    results.put(name, r);
    List<Long> starts = new ArrayList<>();
    // The first start of obd-snapshotter makes its class-data-sharing archive: not counted.
    for (int i = 0; i < 6; i++) {
      Target t = new Target(name, command, dir.resolve("start-" + i));
      t.start();
      if (i > 0) {
        starts.add(t.startToReadyNanos);
      }
      if (i == 5) {
        Thread.sleep(3000);
        r.put("idle RSS after start", t.rssKiB() / 1024 + " MiB");
      }
      t.stop();
    }
    starts.sort(null);
    r.put("start to ready (median of 5)", Stats.ms(starts.get(2) / 1e6));

    try (Target t = new Target(name, command, dir.resolve("run"))) {
      t.start();
      EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
      ManagedChannel ch =
          NettyChannelBuilder.forAddress(new DomainSocketAddress(t.socket.toString()))
              .eventLoopGroup(group)
              .channelType(EpollDomainSocketChannel.class)
              .withOption(ChannelOption.SO_KEEPALIVE, null)
              .usePlaintext()
              .build();
      try {
        SnapshotsBlockingStub stub = SnapshotsGrpc.newBlockingStub(ch);
        cycles(stub, 1, 2, "warmup");
        Stats one = cycles(stub, 1, seconds, "1");
        r.put("cycles/s, 1 client", rate(one));
        r.put("cycle p50 / p99, 1 client", latency(one));
        Stats eight = cycles(stub, 8, seconds, "8");
        r.put("cycles/s, 8 clients", rate(eight));
        r.put("cycle p50 / p99, 8 clients", latency(eight));
        chain(stub, r);
        list(stub, r);
        Thread.sleep(3000);
        r.put("idle RSS after the run", t.rssKiB() / 1024 + " MiB");
      } finally {
        ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }
    }
  }

  private long elapsedNanos;

  /** Prepare → Commit → Stat → Remove cycles from {@code clients} threads for some seconds. */
  private Stats cycles(SnapshotsBlockingStub stub, int clients, int secs, String tag)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    List<Future<Stats>> futures = new ArrayList<>();
    long t0 = System.nanoTime();
    long end = t0 + TimeUnit.SECONDS.toNanos(secs);
    for (int c = 0; c < clients; c++) {
      String prefix = "cycle-" + tag + "-" + c + "-";
      futures.add(
          pool.submit(
              () -> {
                Stats s = new Stats();
                for (int i = 0; System.nanoTime() < end; i++) {
                  long a = System.nanoTime();
                  String key = prefix + i;
                  String name = key + "-c";
                  stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).build());
                  stub.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).build());
                  stub.stat(StatSnapshotRequest.newBuilder().setKey(name).build());
                  stub.remove(RemoveSnapshotRequest.newBuilder().setKey(name).build());
                  s.add(System.nanoTime() - a);
                }
                return s;
              }));
    }
    Stats all = new Stats();
    for (Future<Stats> f : futures) {
      all.addAll(f.get());
    }
    elapsedNanos = System.nanoTime() - t0;
    pool.shutdown();
    return all;
  }

  private String rate(Stats s) {
    return String.format(Locale.ROOT, "%.0f", s.count() / (elapsedNanos / 1e9));
  }

  private static String latency(Stats s) {
    return Stats.ms(s.percentileMillis(50)) + " / " + Stats.ms(s.percentileMillis(99));
  }

  /** Builds 32-layer chains (Prepare + Commit each) and measures Mounts on top of one. */
  private static void chain(SnapshotsBlockingStub stub, Map<String, String> r) {
    Stats builds = new Stats();
    String top = "";
    for (int run = 0; run < 7; run++) {
      long a = System.nanoTime();
      String parent = "";
      for (int i = 0; i < 32; i++) {
        String key = "chain-" + run + "-" + i;
        stub.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).build());
        stub.commit(CommitSnapshotRequest.newBuilder().setName(key + "-c").setKey(key).build());
        parent = key + "-c";
      }
      builds.add(System.nanoTime() - a);
      top = parent;
    }
    stub.prepare(PrepareSnapshotRequest.newBuilder().setKey("chain-top").setParent(top).build());
    Stats mounts = new Stats();
    for (int i = 0; i < 2000; i++) {
      long a = System.nanoTime();
      stub.mounts(MountsRequest.newBuilder().setKey("chain-top").build());
      if (i >= 500) {
        mounts.add(System.nanoTime() - a);
      }
    }
    r.put("32-layer chain build (median of 7)", Stats.ms(builds.percentileMillis(50)));
    r.put("Mounts on a 32-layer chain, p50 / p99", latency(mounts));
  }

  /** 1,000 snapshots, listed whole and with the filter containerd's unpacker sends. */
  private static void list(SnapshotsBlockingStub stub, Map<String, String> r) {
    stub.prepare(PrepareSnapshotRequest.newBuilder().setKey("list-base").build());
    stub.commit(
        CommitSnapshotRequest.newBuilder().setName("list-base-c").setKey("list-base").build());
    for (int i = 0; i < 1000; i++) {
      stub.prepare(
          PrepareSnapshotRequest.newBuilder()
              .setKey(String.format("list-%04d", i))
              .setParent("list-base-c")
              .putLabels("containerd.io/snapshot.ref", String.format("sha256:%064d", i))
              .build());
    }
    String filter =
        "labels.\"containerd.io/snapshot.ref\"=="
            + String.format("sha256:%064d", 500)
            + ",parent==\"list-base-c\"";
    Stats full = new Stats();
    Stats filtered = new Stats();
    for (int i = 0; i < 300; i++) {
      long a = System.nanoTime();
      int n = 0;
      var it = stub.list(ListSnapshotsRequest.getDefaultInstance());
      while (it.hasNext()) {
        n += it.next().getInfoCount();
      }
      if (n < 1000) {
        throw new IllegalStateException("List returned " + n);
      }
      if (i >= 50) {
        full.add(System.nanoTime() - a);
      }
    }
    for (int i = 0; i < 2000; i++) {
      long a = System.nanoTime();
      int n = 0;
      var it = stub.list(ListSnapshotsRequest.newBuilder().addFilters(filter).build());
      while (it.hasNext()) {
        n += it.next().getInfoCount();
      }
      if (n != 1) {
        throw new IllegalStateException("filtered List returned " + n);
      }
      if (i >= 500) {
        filtered.add(System.nanoTime() - a);
      }
    }
    r.put("List of 1,000, p50", Stats.ms(full.percentileMillis(50)));
    r.put("filtered List of 1,000, p50", Stats.ms(filtered.percentileMillis(50)));
  }

  private void print() {
    List<String> names = new ArrayList<>(results.keySet());
    System.out.println("| measure | " + String.join(" | ", names) + " |");
    System.out.println("|---|" + "---|".repeat(names.size()));
    for (String key : results.get(names.get(0)).keySet()) {
      StringBuilder row = new StringBuilder("| " + key + " |");
      for (String n : names) {
        row.append(' ').append(results.get(n).getOrDefault(key, "")).append(" |");
      }
      System.out.println(row);
    }
  }
}
