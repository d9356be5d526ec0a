package dev.obd.bench.snapshotter;

import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc.SnapshotsBlockingStub;
import dev.obd.testsupport.grpc.Http2Preface;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A snapshotter daemon started for one measurement, as a node's service manager starts it: a new
 * process on an empty root, timed from launch until its socket file appears, then its first
 * connection timed from that moment until the server's HTTP/2 preface arrived, the way containerd
 * sees it. {@link #close} stops it (SIGTERM) and releases the client channel.
 */
final class FreshDaemon implements AutoCloseable {
  final String name;
  final Path root;
  final Path socket;
  private final Process process;
  private UnixSocketChannel channel;

  /** Launch until the socket file exists. */
  final long startToSocketNanos;

  /** Socket file appeared until the first connection's server preface arrived. */
  final long firstPrefaceNanos;

  private FreshDaemon(
      String name, Path dir, Process process, long startToSocketNanos, long firstPrefaceNanos) {
    this.name = name;
    this.root = dir.resolve("root");
    this.socket = dir.resolve("s.sock");
    this.process = process;
    this.startToSocketNanos = startToSocketNanos;
    this.firstPrefaceNanos = firstPrefaceNanos;
  }

  /** Starts {@code command --root DIR/root --address DIR/s.sock}; waits at most a minute. */
  static FreshDaemon start(String name, List<String> command, Path dir)
      throws IOException, InterruptedException {
    Files.createDirectories(dir);
    Path socket = dir.resolve("s.sock");
    List<String> cmd = new ArrayList<>(command);
    cmd.addAll(List.of("--root", dir.resolve("root").toString(), "--address", socket.toString()));
    long t0 = System.nanoTime();
    Process p =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("daemon.log").toFile()))
            .start();
    long deadline = t0 + TimeUnit.MINUTES.toNanos(1);
    while (!Files.exists(socket)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly().waitFor();
        throw new IOException(name + " did not create its socket; see " + dir + "/daemon.log");
      }
      Thread.sleep(0, 200_000);
    }
    long appeared = System.nanoTime();
    long preface = Http2Preface.exchange(socket, appeared);
    return new FreshDaemon(name, dir, p, appeared - t0, preface);
  }

  /** A gRPC stub on a channel of its own, connected at the first call. */
  SnapshotsBlockingStub stub() {
    if (channel == null) {
      channel = UnixSocketChannel.open(socket, 1);
    }
    return SnapshotsGrpc.newBlockingStub(channel.channel());
  }

  /** Resident set size, in KiB. */
  long rssKiB() throws IOException {
    return ProcFs.rssKiB(process, name);
  }

  @Override
  public void close() throws InterruptedException {
    if (channel != null) {
      channel.close();
    }
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor();
    }
  }
}
