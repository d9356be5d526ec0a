package dev.obd.testsupport.containerd;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real containerd (a Debian package: bookworm's or one of {@link ContainerdInstallation}) with
 * its own root, state and sockets under a directory of the test's, talking to obd-snapshotter as
 * the proxy plugin {@value #SNAPSHOTTER}. {@link #close} kills the containers' tasks, stops
 * containerd and any shim it left, and unmounts what is left under its directory, so a failing test
 * leaves nothing running or mounted.
 */
public final class Containerd implements AutoCloseable {
  /** The name containerd knows obd-snapshotter by: upstream's. */
  public static final String SNAPSHOTTER = "overlaybd";

  private static final Duration READY = Duration.ofSeconds(60);
  private final ContainerdInstallation installation;
  private final Path dir;
  private final Path socket;
  private final ChildProcess process;

  private Containerd(
      ContainerdInstallation installation, Path dir, Path socket, ChildProcess process) {
    this.installation = installation;
    this.dir = dir;
    this.socket = socket;
    this.process = process;
  }

  /**
   * How the CRI plugin of containerd 2.x pulls images. 1.x has only {@link #LOCAL}.
   *
   * <ul>
   *   <li>{@link #TRANSFER_SERVICE}: through the transfer service, 2.x's default and what
   *       daemon-config ships for 2.x; snapshot labels reach the snapshotter through the proxy
   *       plugin's {@code enable_remote_snapshot_annotations} export;
   *   <li>{@link #LOCAL}: the client-side pull of 1.x, with {@code disable_snapshot_annotations =
   *       false}. On 2.x that setting is what makes CRI fall back to it (containerd logs "Falling
   *       back to local image pull mode"): the configuration daemon-config shipped for 2.x before
   *       it knew the transfer service, still found on nodes.
   * </ul>
   */
  public enum CriPull {
    TRANSFER_SERVICE,
    LOCAL
  }

  /** {@link #config(ContainerdInstallation, Path, Path, CriPull)} for bookworm's containerd 1.6. */
  public static String config(Path dir, Path snapshotterSocket) {
    return configV2(dir, snapshotterSocket);
  }

  /**
   * The configuration the tests use, in the form {@code installation} reads: CRI enabled with
   * obd-snapshotter and snapshot annotations, plain-http access to the local registry, and garbage
   * collection right after every deletion. (By default containerd collects after a deletion only
   * once a pause proportional to the last collection's duration has passed, which can be tens of
   * seconds after a slow one; a test that removes a snapshot with {@code ctr snapshots rm} and
   * waits for the snapshotter to see it would depend on that timing.) On 2.x the transfer service
   * unpacks into obd-snapshotter as well as into overlayfs and passes it the labels lazy pulls
   * need; {@code criPull} chooses how CRI pulls there.
   */
  public static String config(
      ContainerdInstallation installation, Path dir, Path snapshotterSocket, CriPull criPull) {
    if (installation.configVersion() == 2) {
      if (criPull != CriPull.LOCAL) {
        throw new IllegalArgumentException(installation + " has no transfer service for CRI");
      }
      return configV2(dir, snapshotterSocket);
    }
    return configV3(dir, snapshotterSocket, criPull);
  }

  private static String configV2(Path dir, Path snapshotterSocket) {
    return """
        version = 2
        root = "%1$s/root"
        state = "%1$s/state"

        [grpc]
          address = "%1$s/containerd.sock"
        [ttrpc]
          address = "%1$s/containerd.sock.ttrpc"
        [debug]
          level = "info"

        [proxy_plugins]
          [proxy_plugins.%2$s]
            type = "snapshot"
            address = "%3$s"

        [plugins]
          [plugins."io.containerd.grpc.v1.cri".containerd]
            snapshotter = "%2$s"
            disable_snapshot_annotations = false
          [plugins."io.containerd.grpc.v1.cri".registry]
            config_path = "%1$s/certs.d"
          [plugins."io.containerd.gc.v1.scheduler"]
            deletion_threshold = 1
        """
        .formatted(dir, SNAPSHOTTER, snapshotterSocket);
  }

  /**
   * containerd 2.x. The unpack_config list replaces containerd's default one, so it names overlayfs
   * too; its platform only has to parse, as check_platform_supported is off.
   */
  private static String configV3(Path dir, Path snapshotterSocket, CriPull criPull) {
    return """
        version = 3
        root = "%1$s/root"
        state = "%1$s/state"

        [grpc]
          address = "%1$s/containerd.sock"
        [ttrpc]
          address = "%1$s/containerd.sock.ttrpc"
        [debug]
          level = "info"

        [proxy_plugins]
          [proxy_plugins.%2$s]
            type = "snapshot"
            address = "%3$s"
            [proxy_plugins.%2$s.exports]
              enable_remote_snapshot_annotations = "true"

        [plugins]
          [plugins."io.containerd.cri.v1.images"]
            snapshotter = "%2$s"
            %4$s
            [plugins."io.containerd.cri.v1.images".registry]
              config_path = "%1$s/certs.d"
          [plugins."io.containerd.transfer.v1.local"]
            config_path = "%1$s/certs.d"
            [[plugins."io.containerd.transfer.v1.local".unpack_config]]
              platform = "linux/amd64"
              snapshotter = "overlayfs"
            [[plugins."io.containerd.transfer.v1.local".unpack_config]]
              platform = "linux/amd64"
              snapshotter = "%2$s"
          [plugins."io.containerd.gc.v1.scheduler"]
            deletion_threshold = 1
        """
        .formatted(
            dir,
            SNAPSHOTTER,
            snapshotterSocket,
            criPull == CriPull.LOCAL ? "disable_snapshot_annotations = false" : "");
  }

  /** Starts bookworm's containerd (the system's) with {@code config}; see the other start. */
  public static Containerd start(Path dir, String config, String registryHost) {
    return start(ContainerdInstallation.system(), dir, config, registryHost);
  }

  /**
   * Starts {@code installation} with {@code config} (a config.toml text) and waits until it
   * answers; {@code registryHost}, if not null, is reached over plain http.
   */
  public static Containerd start(
      ContainerdInstallation installation, Path dir, String config, String registryHost) {
    Requirements.requireCommand("runc");
    try {
      Files.createDirectories(dir);
      if (registryHost != null) {
        Path hosts = Files.createDirectories(dir.resolve("certs.d").resolve(registryHost));
        Files.writeString(
            hosts.resolve("hosts.toml"),
            "server = \"http://%1$s\"\n[host.\"http://%1$s\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
                .formatted(registryHost));
      }
      Path file = dir.resolve("config.toml");
      Files.writeString(file, config);
      Path socket = dir.resolve("containerd.sock");
      ChildProcess p =
          ChildProcess.start(
              installation.toString(),
              List.of(installation.containerd().toString(), "--config", file.toString()),
              dir.resolve("containerd.log"),
              installation.environment());
      Containerd c = new Containerd(installation, dir, socket, p);
      p.awaitCondition("ctr version", READY, c::answers);
      return c;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private boolean answers() {
    try {
      return run(ctrCommand(null, "version"), Duration.ofSeconds(10)).exit == 0;
    } catch (RuntimeException e) {
      return false;
    }
  }

  public ContainerdInstallation installation() {
    return installation;
  }

  public Path socket() {
    return socket;
  }

  public Path dir() {
    return dir;
  }

  public String logTail(int lines) {
    return process.logTail(lines);
  }

  /** All that containerd logged so far. */
  public String log() {
    try {
      return Files.readString(process.log(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("read " + process.log(), e);
    }
  }

  /** Runs {@code ctr -n namespace args...}; fails with the output unless it exits 0. */
  public String ctr(String namespace, String... args) {
    Result r = ctrResult(namespace, args);
    if (r.exit != 0) {
      throw new AssertionError(
          "ctr "
              + String.join(" ", args)
              + " exited "
              + r.exit
              + ":\n"
              + r.output
              + "\ncontainerd log:\n"
              + logTail(30));
    }
    return r.output;
  }

  /**
   * Runs {@code cmd} in a new container of {@code image} on {@code snapshotter} until it exits
   * ({@code ctr run --rm}) and returns its output; fails with the output unless it exits 0.
   */
  public String runContainer(
      String namespace, String snapshotter, String image, String id, String... cmd) {
    List<String> args = new ArrayList<>(List.of("run", "--rm", "--snapshotter", snapshotter));
    args.add(image);
    args.add(id);
    args.addAll(List.of(cmd));
    return ctr(namespace, args.toArray(String[]::new));
  }

  /** Runs {@code ctr -n namespace args...} and returns its exit code and output. */
  public Result ctrResult(String namespace, String... args) {
    return run(ctrCommand(namespace, args), Duration.ofMinutes(5));
  }

  /**
   * The command line of this containerd's own ctr on its socket, in {@code namespace} (none if
   * null): for a ctr the test runs as a process of its own.
   */
  public List<String> ctrCommand(String namespace, String... args) {
    List<String> cmd =
        new ArrayList<>(List.of(installation.ctr().toString(), "-a", socket.toString()));
    if (namespace != null) {
      cmd.addAll(List.of("-n", namespace));
    }
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** Exit code and combined output of a command. */
  public record Result(int exit, String output) {}

  public static Result run(List<String> cmd, Duration deadline) {
    try {
      Path out = Files.createTempFile("ctr-", ".out");
      try {
        Process p =
            new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
          throw new AssertionError(
              cmd + " did not finish within " + deadline + ":\n" + Files.readString(out));
        }
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
      } finally {
        Files.deleteIfExists(out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }

  /** Stops containerd (SIGTERM) without cleaning up, e.g. to restart it. */
  public void stop() {
    if (process.isAlive()) {
      process.terminate(Duration.ofSeconds(30));
    }
  }

  @Override
  public void close() {
    List<String> problems = new ArrayList<>();
    if (process.isAlive()) {
      for (String ns : List.of("default", "k8s.io")) {
        try {
          for (String task : lines(ctrResult(ns, "tasks", "ls", "-q").output)) {
            ctrResult(ns, "tasks", "kill", "-s", "SIGKILL", task);
            for (int i = 0; i < 50 && ctrResult(ns, "tasks", "delete", task).exit != 0; i++) {
              Thread.sleep(100);
            }
          }
          for (String c : lines(ctrResult(ns, "containers", "ls", "-q").output)) {
            ctrResult(ns, "containers", "delete", c);
          }
        } catch (RuntimeException | InterruptedException | AssertionError e) {
          problems.add("cleaning namespace " + ns + ": " + e);
        }
      }
      process.terminate(Duration.ofSeconds(30));
    }
    killShims();
    unmountBelow(dir);
    removeEmptyRunDirectories();
    if (!problems.isEmpty()) {
      System.err.println("containerd cleanup: " + problems);
    }
  }

  /**
   * containerd (1.6 to 2.x) keeps shim sockets, runc state and fifos under /run/containerd whatever
   * its configured state directory; remove what it left there, if empty (a real containerd on the
   * host may use them too).
   */
  private static void removeEmptyRunDirectories() {
    for (String d :
        List.of(
            "/run/containerd/runc/default",
            "/run/containerd/runc/k8s.io",
            "/run/containerd/runc",
            "/run/containerd/s",
            "/run/containerd/fifo",
            "/run/containerd")) {
      try {
        Files.deleteIfExists(Path.of(d));
      } catch (IOException notEmptyOrInUse) {
        // someone else's
      }
    }
  }

  /** Shims are started by containerd with its address; they outlive it if a task survived. */
  private void killShims() {
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : (Iterable<Path>) procs::iterator) {
        if (!p.getFileName().toString().matches("\\d+")) {
          continue;
        }
        try {
          String cmdline = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
          if (cmdline.contains("containerd-shim") && cmdline.contains(socket.toString())) {
            run(List.of("kill", "-9", p.getFileName().toString()), Duration.ofSeconds(5));
          }
        } catch (IOException vanished) {
          // the process exited meanwhile
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Unmounts, deepest first, every mount below {@code dir} (rootfs mounts of killed tasks). */
  public static void unmountBelow(Path dir) {
    try {
      List<String> targets = new ArrayList<>();
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String target = line.split(" ")[4].replace("\\040", " ");
        if (target.startsWith(dir.toString() + "/")) {
          targets.add(target);
        }
      }
      targets.sort(Comparator.comparingInt(String::length).reversed());
      for (String t : targets) {
        run(List.of("umount", "-l", t), Duration.ofSeconds(30));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> lines(String s) {
    return s.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
  }
}
