package dev.obd.it.e2e.support;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.ContainerdInstallation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything an end-to-end test needs, started together and stopped together: a registry on
 * 127.0.0.1 (or one the test shares), obd-snapshotter (with obd-backstore for OverlayBD images),
 * and containerd using it (also for CRI pulls): bookworm's, or any {@link ContainerdInstallation}.
 * Closing stops them all and deletes the working directory, leaving nothing running, mounted or
 * attached.
 */
public final class E2eEnvironment implements AutoCloseable {
  public final Path dir;
  public final LocalRegistry registry;
  public final Containerd containerd;
  private final boolean ownRegistry;
  private ChildProcess backstore;
  private final String[] daemonArgs;
  private SnapshotterDaemon daemon;

  private E2eEnvironment(
      Path dir,
      LocalRegistry registry,
      boolean ownRegistry,
      SnapshotterDaemon daemon,
      Containerd containerd,
      ChildProcess backstore,
      String[] daemonArgs) {
    this.dir = dir;
    this.registry = registry;
    this.ownRegistry = ownRegistry;
    this.daemon = daemon;
    this.containerd = containerd;
    this.backstore = backstore;
    this.daemonArgs = daemonArgs;
  }

  /** Ordinary images only: registry, obd-snapshotter, bookworm's containerd. */
  public static E2eEnvironment start(String name) {
    return builder(name).start();
  }

  /**
   * For OverlayBD images too: also obd-backstore, and obd-snapshotter configured to attach devices
   * through it and to reach the local registry over plain http. {@code extraConfig} adds members to
   * the snapshotter's config.json, e.g. {@code "autoRemoveDev": true}.
   */
  public static E2eEnvironment startWithBackstore(String name, String extraConfig) {
    return builder(name).withBackstore(extraConfig).start();
  }

  /** An environment to be configured, then started; {@code name} names its directory. */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** What to start: which containerd, whether with obd-backstore, whose registry. */
  public static final class Builder {
    private final String name;
    private boolean withBackstore;
    private String extraConfig = "";
    private ContainerdInstallation installation;
    private Containerd.CriPull criPull;
    private LocalRegistry sharedRegistry;
    private boolean criProxy;

    private Builder(String name) {
      this.name = name;
    }

    /** Also obd-backstore, for OverlayBD images (see {@link #startWithBackstore}). */
    public Builder withBackstore(String extraConfig) {
      this.withBackstore = true;
      this.extraConfig = extraConfig;
      return this;
    }

    /** This containerd instead of the system's (bookworm's 1.6). */
    public Builder containerd(ContainerdInstallation installation) {
      this.installation = installation;
      return this;
    }

    /**
     * How CRI pulls on containerd 2.x; by default through the transfer service (2.x) or locally
     * (1.x, the only way there).
     */
    public Builder criPull(Containerd.CriPull criPull) {
      this.criPull = criPull;
      return this;
    }

    /**
     * Images come from {@code registry}, which the caller owns and closes, instead of a registry of
     * the environment's own: for tests that share pushed images between environments.
     */
    public Builder registry(LocalRegistry registry) {
      this.sharedRegistry = registry;
      return this;
    }

    /**
     * Also obd-snapshotter's CRI image proxy (with {@link #withBackstore}), on {@link
     * #criProxySocket}, forwarding to the environment's containerd: kubelet's image endpoint.
     */
    public Builder withCriProxy() {
      this.criProxy = true;
      return this;
    }

    public E2eEnvironment start() {
      Requirements.requireRoot();
      if (criProxy && !withBackstore) {
        throw new IllegalStateException("the CRI proxy hands credentials to obd-backstore: add it");
      }
      ContainerdInstallation ctrd =
          installation != null ? installation : ContainerdInstallation.system();
      Containerd.CriPull pull =
          criPull != null
              ? criPull
              : ctrd.configVersion() == 3
                  ? Containerd.CriPull.TRANSFER_SERVICE
                  : Containerd.CriPull.LOCAL;
      Path dir;
      try {
        dir = Files.createTempDirectory("obd-e2e-" + name + "-");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      LocalRegistry registry = sharedRegistry;
      SnapshotterDaemon daemon = null;
      ChildProcess backstore = null;
      try {
        if (registry == null) {
          registry = LocalRegistry.start(dir.resolve("registry"));
        }
        String[] args = new String[0];
        if (withBackstore) {
          backstore = Backstore.start(dir.resolve("backstore"));
          Path config = dir.resolve("obd-config.json");
          String cri =
              criProxy
                  ? (", \"criImageService\": {\"enable\": true, \"address\": \"%s\","
                          + " \"containerdAddress\": \"%s\"}")
                      .formatted(
                          dir.resolve(CRI_PROXY_SOCKET),
                          dir.resolve("containerd").resolve("containerd.sock"))
                  : "";
          Files.writeString(
              config,
              ("{\"attacher\": \"nbd\", \"backstoreAddress\": \"%s\","
                      + " \"mirrorRegistry\": [{\"host\": \"%s\", \"insecure\": true}]%s%s}")
                  .formatted(
                      Backstore.socket(dir.resolve("backstore")),
                      registry.host(),
                      cri,
                      extraConfig.isBlank() ? "" : ", " + extraConfig));
          args = new String[] {"--config", config.toString()};
        }
        daemon = SnapshotterDaemon.start(dir.resolve("obd-root"), dir.resolve("obd.sock"), args);
        Containerd containerd =
            Containerd.start(
                ctrd,
                dir.resolve("containerd"),
                Containerd.config(ctrd, dir.resolve("containerd"), dir.resolve("obd.sock"), pull),
                registry.host());
        return new E2eEnvironment(
            dir, registry, sharedRegistry == null, daemon, containerd, backstore, args);
      } catch (IOException e) {
        cleanUp(dir, sharedRegistry == null ? registry : null, daemon, backstore);
        throw new UncheckedIOException(e);
      } catch (RuntimeException | Error e) {
        cleanUp(dir, sharedRegistry == null ? registry : null, daemon, backstore);
        throw e;
      }
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

  private static final String CRI_PROXY_SOCKET = "cri-image.sock";

  public SnapshotterDaemon daemon() {
    return daemon;
  }

  /** The CRI image proxy's socket (with {@link Builder#withCriProxy}), kubelet's image endpoint. */
  public Path criProxySocket() {
    return dir.resolve(CRI_PROXY_SOCKET);
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

  /** The devices obd-backstore serves (with {@link #startWithBackstore}). */
  public List<DeviceInfo> devices() {
    try {
      return new BackstoreClient(backstoreSocket()).list(Duration.ofSeconds(10));
    } catch (BackstoreApiException e) {
      throw new AssertionError("list obd-backstore's devices", e);
    }
  }

  /** Mount points below the environment's directory: snapshots, devices, containers. */
  public List<String> mountsBelow() {
    try {
      List<String> found = new ArrayList<>();
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String target = line.split(" ")[4].replace("\\040", " ");
        if (target.startsWith(dir + "/")) {
          found.add(target);
        }
      }
      return found;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Loop devices whose backing file lies below the environment's directory, as losetup says. */
  public List<String> loopDevicesBelow() {
    Containerd.Result r =
        Containerd.run(
            List.of("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"),
            Duration.ofSeconds(30));
    if (r.exit() != 0) {
      throw new AssertionError("losetup --list: " + r.output());
    }
    return r.output().lines().filter(l -> l.contains(" " + dir + "/")).map(String::strip).toList();
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
        if (ownRegistry) {
          registry.close();
        }
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
