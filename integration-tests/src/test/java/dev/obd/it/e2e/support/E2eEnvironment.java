package dev.obd.it.e2e.support;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Everything an end-to-end test needs, started together and stopped together: a registry on
 * 127.0.0.1, obd-snapshotter, and containerd using it (also for CRI pulls). Closing stops them all
 * and deletes the working directory, leaving nothing running or mounted.
 */
public final class E2eEnvironment implements AutoCloseable {
  public final Path dir;
  public final LocalRegistry registry;
  public final Containerd containerd;
  private SnapshotterDaemon daemon;

  private E2eEnvironment(
      Path dir, LocalRegistry registry, SnapshotterDaemon daemon, Containerd containerd) {
    this.dir = dir;
    this.registry = registry;
    this.daemon = daemon;
    this.containerd = containerd;
  }

  public static E2eEnvironment start(String name) {
    Requirements.requireRoot();
    Path dir;
    try {
      dir = Files.createTempDirectory("obd-e2e-" + name + "-");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    LocalRegistry registry = null;
    SnapshotterDaemon daemon = null;
    try {
      registry = LocalRegistry.start(dir.resolve("registry"));
      daemon = SnapshotterDaemon.start(dir.resolve("obd-root"), dir.resolve("obd.sock"));
      Containerd containerd =
          Containerd.start(
              dir.resolve("containerd"),
              Containerd.config(dir.resolve("containerd"), dir.resolve("obd.sock")),
              registry.host());
      return new E2eEnvironment(dir, registry, daemon, containerd);
    } catch (RuntimeException | Error e) {
      if (daemon != null) {
        daemon.close();
      }
      if (registry != null) {
        registry.close();
      }
      throw e;
    }
  }

  public SnapshotterDaemon daemon() {
    return daemon;
  }

  /** Stops obd-snapshotter (SIGTERM) and starts it again on the same root and socket. */
  public void restartDaemon() {
    int code = daemon.stop();
    if (code != 0) {
      throw new AssertionError("obd-snapshotter exited " + code + " on SIGTERM");
    }
    daemon = SnapshotterDaemon.start(daemon.root(), daemon.socket());
    awaitContainerdReconnected();
  }

  /** Kills obd-snapshotter with SIGKILL and starts it again. */
  public void killAndRestartDaemon() {
    daemon.kill9();
    daemon = SnapshotterDaemon.start(daemon.root(), daemon.socket());
    awaitContainerdReconnected();
  }

  /**
   * containerd's proxy client reconnects with a backoff of up to 3 s; until then its calls fail
   * with "unavailable", as they would for any proxy snapshotter being restarted.
   */
  private void awaitContainerdReconnected() {
    long end = System.nanoTime() + java.time.Duration.ofSeconds(30).toNanos();
    while (containerd
            .ctrResult("default", "snapshots", "--snapshotter", Containerd.SNAPSHOTTER, "ls")
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
