package dev.obd.backstore.device;

import dev.obd.backstore.attach.Attacher;
import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.backstore.nbd.Export;
import dev.obd.backstore.nbd.NbdServer;
import dev.obd.backstore.nbd.NbdTransport;
import dev.obd.image.VirtualDisk;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.registry.CredentialSource;
import dev.obd.registry.PushedCredentials;
import dev.obd.registry.RegistryClient;
import dev.obd.registry.cache.RangeCache;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The shared machinery of one process: registry client, range cache, NBD transport, thread pools,
 * and the image opener built on them. Used by the daemon and by {@code obdctl nbd serve}. The
 * creator owns it; {@link #close} releases the threads (devices are not detached).
 */
public final class DataPlane implements AutoCloseable {
  private final BackstoreConfig config;
  private final RegistryClient registry;
  private final PushedCredentials pushed;
  private final RangeCache cache;
  private final NbdTransport transport;
  private final ExecutorService openPool;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService cachePool;
  private final ImageOpener opener;

  private DataPlane(
      BackstoreConfig config,
      RegistryClient registry,
      PushedCredentials pushed,
      RangeCache cache,
      NbdTransport transport,
      ExecutorService openPool,
      ScheduledExecutorService scheduler,
      ExecutorService cachePool) {
    this.config = config;
    this.cachePool = cachePool;
    this.registry = registry;
    this.pushed = pushed;
    this.cache = cache;
    this.transport = transport;
    this.openPool = openPool;
    this.scheduler = scheduler;
    this.opener =
        new ImageOpener(
            registry,
            cache,
            openPool,
            scheduler,
            config.download(),
            config.prefetchConfig().concurrency());
  }

  public static DataPlane start(BackstoreConfig config) throws IOException {
    // first: a credential source that cannot be set up (a bad certificate) stops the start
    CredentialSource configured = config.credentialSettings().open();
    // credentials pushed by whoever pulls (the snapshotter's CRI proxy) come first
    PushedCredentials pushed = new PushedCredentials();
    CredentialSource credentials = CredentialSource.inTurn(pushed, configured);
    ExecutorService openPool = Executors.newCachedThreadPool(daemonThreads("open"));
    ScheduledExecutorService scheduler =
        Executors.newScheduledThreadPool(2, daemonThreads("background"));
    // digest checks and sequential read-ahead of the range cache
    ExecutorService cachePool = Executors.newFixedThreadPool(4, daemonThreads("cache"));
    RangeCache cache =
        RangeCache.open(
            Path.of(config.cacheConfig().cacheDir()),
            config.cacheConfig().cacheSizeBytes(),
            config.cacheConfig().refillSize(),
            cachePool);
    credentials.refresh();
    RegistryClient registry = new RegistryClient(config.registrySettings(), credentials);
    NbdTransport transport = NbdTransport.start(config.ioThreads());
    return new DataPlane(
        config, registry, pushed, cache, transport, openPool, scheduler, cachePool);
  }

  /** The device manager of the daemon, attaching with {@code attacher}. */
  public DeviceManager deviceManager(Attacher attacher) throws IOException {
    return new DeviceManager(
        opener,
        attacher,
        transport,
        new StateStore(Path.of(config.stateDir())),
        Path.of(config.runDir()),
        config.blockSize(),
        Duration.ofMillis(config.timeouts().attachMs()),
        openPool);
  }

  /**
   * Opens the image of {@code configFile} and serves it on the unix socket {@code socket} (for
   * {@code obdctl nbd serve}). Closing the returned server does not close the image: call {@link
   * Served#close}.
   */
  public Served serve(Path configFile, Path socket, String exportName) throws IOException {
    OpenedImage image = opener.open(ImageConfigJson.read(configFile), exportName);
    try {
      NbdServer server =
          NbdServer.create(
                  new Export(exportName, configFile.toString(), image.disk, config.blockSize()),
                  transport)
              .listen(socket, Duration.ofSeconds(10));
      return new Served(server, image);
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  /** An image served in the foreground; closing stops the server and closes the image. */
  public static final class Served implements AutoCloseable {
    private final NbdServer server;
    private final OpenedImage image;

    Served(NbdServer server, OpenedImage image) {
      this.server = server;
      this.image = image;
    }

    public NbdServer server() {
      return server;
    }

    public VirtualDisk disk() {
      return image.disk;
    }

    @Override
    public void close() throws IOException {
      server.close();
      image.close();
    }
  }

  public RegistryClient registry() {
    return registry;
  }

  /**
   * The credentials pushed at run time ({@code PUT /v1/credentials}), asked before the configured.
   */
  public PushedCredentials pushedCredentials() {
    return pushed;
  }

  public RangeCache cache() {
    return cache;
  }

  public NbdTransport transport() {
    return transport;
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    openPool.shutdownNow();
    cachePool.shutdownNow();
    transport.close();
    try {
      scheduler.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static ThreadFactory daemonThreads(String prefix) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
  }
}
