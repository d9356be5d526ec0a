package dev.obd.bench.snapshotter;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A snapshotter daemon under measurement: started as its own process on a root and socket of the
 * benchmark's, timed from launch until its socket accepts connections.
 */
final class Target implements AutoCloseable {
  final String name;
  private final List<String> command;
  final Path root;
  final Path socket;
  private Process process;
  long startToReadyNanos;

  Target(String name, List<String> command, Path dir) {
    this.name = name;
    this.command = command;
    this.root = dir.resolve("root");
    this.socket = dir.resolve("s.sock");
  }

  /** Starts the daemon and waits (at most a minute) until its socket accepts. */
  void start() throws IOException, InterruptedException {
    List<String> cmd = new java.util.ArrayList<>(command);
    cmd.addAll(List.of("--root", root.toString(), "--address", socket.toString()));
    Files.createDirectories(root.getParent());
    Path log = root.resolveSibling(name.replaceAll("\\W", "_") + ".log");
    long t0 = System.nanoTime();
    process =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start();
    long deadline = t0 + TimeUnit.SECONDS.toNanos(60);
    while (!accepts()) {
      if (!process.isAlive() || System.nanoTime() > deadline) {
        throw new IOException(name + " did not start; see " + log);
      }
      Thread.sleep(1);
    }
    startToReadyNanos = System.nanoTime() - t0;
  }

  private boolean accepts() {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** Resident set size of the daemon process, in KiB. */
  long rssKiB() throws IOException {
    return ProcFs.rssKiB(process, name);
  }

  /** CPU time the daemon process has used so far, in nanoseconds (see {@link ProcFs#cpuNanos}). */
  long cpuNanos() throws IOException {
    return ProcFs.cpuNanos(process);
  }

  /** SIGTERM and wait. */
  void stop() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }
}
