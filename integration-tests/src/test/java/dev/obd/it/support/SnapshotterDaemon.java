package dev.obd.it.support;

import dev.obd.testsupport.ChildProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * obd-snapshotter running as its own process, as containerd would see it: started with a root and
 * socket of the test's own, stopped with SIGTERM or killed with SIGKILL. {@link #close} always
 * leaves no process behind.
 */
public final class SnapshotterDaemon implements AutoCloseable {
  /** Generous: JVM start on a loaded 2-core machine while other tests run. */
  public static final Duration READY_DEADLINE = Duration.ofSeconds(60);

  private final Path root;
  private final Path socket;
  private final ChildProcess process;
  private SnapshotsClient client;

  private SnapshotterDaemon(Path root, Path socket, ChildProcess process) {
    this.root = root;
    this.socket = socket;
    this.process = process;
  }

  /** Starts a daemon on {@code root} and {@code socket} and waits until it serves. */
  public static SnapshotterDaemon start(Path root, Path socket, String... extraArgs) {
    return start(root, socket, Map.of(), extraArgs);
  }

  public static SnapshotterDaemon start(
      Path root, Path socket, Map<String, String> env, String... extraArgs) {
    SnapshotterDaemon d = launch(root, socket, env, extraArgs);
    d.awaitServing();
    return d;
  }

  /** Starts the daemon without waiting (for tests of failed starts). */
  public static SnapshotterDaemon launch(
      Path root, Path socket, Map<String, String> env, String... extraArgs) {
    List<String> args = new ArrayList<>();
    if (root != null) {
      args.addAll(List.of("--root", root.toString()));
    }
    if (socket != null) {
      args.addAll(List.of("--address", socket.toString()));
    }
    args.addAll(List.of("--log-level", "debug"));
    args.addAll(List.of(extraArgs));
    Path logDir =
        java.util.stream.Stream.of(socket, root)
            .filter(java.util.Objects::nonNull)
            .map(Path::getParent)
            .filter(Files::isDirectory)
            .findFirst()
            .orElse(Path.of(System.getProperty("java.io.tmpdir")));
    return new SnapshotterDaemon(root, socket, launchRaw(logDir, env, args));
  }

  /** Starts {@code obd-snapshotter args...} exactly as given. */
  public static ChildProcess launchRaw(Path logDir, Map<String, String> env, List<String> args) {
    List<String> cmd = new ArrayList<>(javaCommand());
    cmd.add("dev.obd.snapshotter.Main");
    cmd.addAll(args);
    Path log = logDir.resolve("daemon-" + System.nanoTime() + ".log");
    return ChildProcess.start("obd-snapshotter", cmd, log, new HashMap<>(env));
  }

  /** {@code java -cp <daemon class path>}, with the JVM running these tests. */
  public static List<String> javaCommand() {
    String java = ProcessHandle.current().info().command().orElse("java");
    return List.of(java, "-cp", daemonClasspath());
  }

  public static String daemonClasspath() {
    String file = System.getProperty("obd.daemon.classpathFile");
    if (file == null) {
      throw new IllegalStateException("obd.daemon.classpathFile not set: run through Maven");
    }
    try {
      String deps = Files.readString(Path.of(file), StandardCharsets.UTF_8).trim();
      return deps;
    } catch (IOException e) {
      throw new UncheckedIOException("read daemon class path " + file, e);
    }
  }

  public void awaitServing() {
    process.awaitCondition("serving on " + socket, READY_DEADLINE, () -> accepts(socket));
  }

  public static boolean accepts(Path socket) {
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  public Path root() {
    return root;
  }

  public Path socket() {
    return socket;
  }

  public ChildProcess process() {
    return process;
  }

  /** A client on the daemon's socket, created on first use and closed with the daemon. */
  public synchronized SnapshotsClient client() {
    if (client == null) {
      client = SnapshotsClient.connect(socket);
    }
    return client;
  }

  /** SIGTERM; returns the exit code. */
  public int stop() {
    closeClient();
    return process.terminate(Duration.ofSeconds(30));
  }

  /** SIGKILL: the daemon gets no chance to clean up. */
  public void kill9() {
    closeClient();
    process.kill9();
  }

  private synchronized void closeClient() {
    if (client != null) {
      client.close();
      client = null;
    }
  }

  public String logTail(int lines) {
    return process.logTail(lines);
  }

  @Override
  public void close() {
    closeClient();
    if (process.isAlive()) {
      process.terminate(Duration.ofSeconds(30));
    }
  }
}
