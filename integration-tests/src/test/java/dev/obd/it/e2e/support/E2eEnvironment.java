package dev.obd.it.e2e.support;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Everything an end-to-end test needs, started together and stopped together: a registry on
 * 127.0.0.1, obd-snapshotter (with obd-backstore for OverlayBD images), and containerd using it
 * (also for CRI pulls). Closing stops them all and deletes the working directory, leaving nothing
 * running, mounted or attached.
 */
public final class E2eEnvironment implements AutoCloseable {
  public final Path dir;
  public final LocalRegistry registry;
  public final Containerd containerd;
  private ChildProcess backstore;
  private final String[] daemonArgs;
  private SnapshotterDaemon daemon;

  private E2eEnvironment(
      Path dir,
      LocalRegistry registry,
      SnapshotterDaemon daemon,
      Containerd containerd,
      ChildProcess backstore,
      String[] daemonArgs) {
    this.dir = dir;
    this.registry = registry;
    this.daemon = daemon;
    this.containerd = containerd;
    this.backstore = backstore;
    this.daemonArgs = daemonArgs;
  }

  /** Ordinary images only: registry, obd-snapshotter, containerd. */
  public static E2eEnvironment start(String name) {
    return start(name, false, "");
  }

  /**
   * For OverlayBD images too: also obd-backstore, and obd-snapshotter configured to attach devices
   * through it and to reach the local registry over plain http. {@code extraConfig} adds members to
   * the snapshotter's config.json, e.g. {@code "autoRemoveDev": true}.
   */
  public static E2eEnvironment startWithBackstore(String name, String extraConfig) {
    return start(name, true, extraConfig);
  }

  private static E2eEnvironment start(String name, boolean withBackstore, String extraConfig) {
    Requirements.requireRoot();
    Path dir;
    try {
      dir = Files.createTempDirectory("obd-e2e-" + name + "-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    LocalRegistry registry = null;
    SnapshotterDaemon daemon = null;
    ChildProcess backstore = null;
    try {
      registry = LocalRegistry.start(dir.resolve("registry"));
      String[] args = new String[0];
      if (withBackstore) {
        backstore = Backstore.start(dir.resolve("backstore"));
        Path config = dir.resolve("obd-config.json");
        Files.writeString(
            config,
            ("{\"attacher\": \"nbd\", \"backstoreAddress\": \"%s\","
                    + " \"mirrorRegistry\": [{\"host\": \"%s\", \"insecure\": true}]%s}")
                .formatted(
                    Backstore.socket(dir.resolve("backstore")),
                    registry.host(),
                    extraConfig.isBlank() ? "" : ", " + extraConfig));
        args = new String[] {"--config", config.toString()};
      }
      daemon = SnapshotterDaemon.start(dir.resolve("obd-root"), dir.resolve("obd.sock"), args);
      Containerd containerd =
          Containerd.start(
              dir.resolve("containerd"),
              Containerd.config(dir.resolve("containerd"), dir.resolve("obd.sock")),
              registry.host());
      return new E2eEnvironment(dir, registry, daemon, containerd, backstore, args);
    } catch (IOException e) {
      cleanUp(dir, registry, daemon, backstore);
      throw new UncheckedIOException(e);
    } catch (RuntimeException | Error e) {
      cleanUp(dir, registry, daemon, backstore);
      throw e;
    }
  }

  private static void cleanUp(
      Path dir, LocalRegistry registry, SnapshotterDaemon daemon, ChildProcess backstore) {
    if (daemon != null) {
      daemon.close();
    }
    Containerd.unmountBelow(dir.resolve("obd-root"));
    if (backstore != null) {
      Backstore.stop(backstore, dir.resolve("backstore"));
    }
    if (registry != null) {
      registry.close();
    }
    Containerd.unmountBelow(dir);
  }

  public SnapshotterDaemon daemon() {
    return daemon;
  }

  /** obd-backstore's control socket (with {@link #startWithBackstore}). */
  public Path backstoreSocket() {
    return Backstore.socket(dir.resolve("backstore"));
  }

  /**
   * Stops obd-backstore (SIGTERM) without removing its devices: as at a reboot, or a crash of the
   * data plane.
   */
  public void stopBackstore() {
    if (backstore == null) {
      throw new IllegalStateException("this environment has no backstore");
    }
    backstore.terminate(Duration.ofSeconds(30));
  }

  /** Starts obd-backstore again on the same directories, after {@link #stopBackstore}. */
  public void startBackstore() throws IOException {
    if (backstore == null || backstore.isAlive()) {
      throw new IllegalStateException("the backstore is running or absent");
    }
    backstore = Backstore.start(dir.resolve("backstore"));
  }

  /** A test stopped the backstore and failed: start it, so that it removes its devices. */
  private void restartBackstoreForCleanup() {
    try {
      backstore = Backstore.start(dir.resolve("backstore"));
    } catch (IOException | RuntimeException e) {
      System.err.println("could not start obd-backstore again to remove its devices: " + e);
    }
  }

  /** Stops obd-snapshotter (SIGTERM) and starts it again on the same root and socket. */
  public void restartDaemon() {
    int code = daemon.stop();
    if (code != 0) {
      throw new AssertionError("obd-snapshotter exited " + code + " on SIGTERM");
    }
    daemon = SnapshotterDaemon.start(daemon.root(), daemon.socket(), daemonArgs);
    awaitContainerdReconnected();
  }

  /** Kills obd-snapshotter with SIGKILL and starts it again. */
  public void killAndRestartDaemon() {
    daemon.kill9();
    daemon = SnapshotterDaemon.start(daemon.root(), daemon.socket(), daemonArgs);
    awaitContainerdReconnected();
  }

  /**
   * containerd's proxy client reconnects with a backoff of up to 3 s; until then its calls fail
   * with "unavailable", as they would for any proxy snapshotter being restarted. (A snapshot
   * listing is no probe: containerd answers it from its own metadata.)
   */
  private void awaitContainerdReconnected() {
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    String probe = "reconnect-probe-" + System.nanoTime();
    while (containerd
            .ctrResult(
                "default", "snapshots", "--snapshotter", Containerd.SNAPSHOTTER, "prepare", probe)
            .exit()
        != 0) {
      if (System.nanoTime() > end) {
        throw new AssertionError("containerd did not reach obd-snapshotter again within 30 s");
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      }
    }
    containerd.ctr("default", "snapshots", "--snapshotter", Containerd.SNAPSHOTTER, "rm", probe);
  }

  /** A fresh directory for a test's files. */
  public Path workDir(String name) {
    try {
      return Files.createDirectories(dir.resolve("work").resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    try {
      containerd.close();
    } finally {
      try {
        daemon.close();
      } finally {
        Containerd.unmountBelow(dir.resolve("obd-root"));
        if (backstore != null) {
          if (!backstore.isAlive()) {
            restartBackstoreForCleanup();
          }
          Backstore.stop(backstore, dir.resolve("backstore"));
        }
        registry.close();
        Containerd.unmountBelow(dir);
        try {
          Layers.deleteTree(dir);
        } catch (IOException e) {
          System.err.println("could not delete " + dir + ": " + e);
        }
      }
    }
  }
}
