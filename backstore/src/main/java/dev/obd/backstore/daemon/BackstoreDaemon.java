package dev.obd.backstore.daemon;

import dev.obd.backstore.api.DaemonInfo;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.RegistryCredential;
import dev.obd.backstore.attach.AttachMode;
import dev.obd.backstore.attach.Attacher;
import dev.obd.backstore.attach.FuseLoopAttacher;
import dev.obd.backstore.attach.HostCapabilities;
import dev.obd.backstore.attach.KernelNbdAttacher;
import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.backstore.control.ControlServer;
import dev.obd.backstore.device.BlobAccessCheck;
import dev.obd.backstore.device.DataPlane;
import dev.obd.backstore.device.DeviceException;
import dev.obd.backstore.device.DeviceManager;
import dev.obd.daemonsupport.Signals;
import dev.obd.daemonsupport.SystemdNotifier;
import dev.obd.registry.cache.RangeCache;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;

/**
 * The obd-backstore process: data plane, device manager and control API, started in that order,
 * with recorded devices reconnected before the API answers. Stopping (SIGTERM) closes the API and
 * the servers but detaches nothing: kernel devices wait for the next start.
 */
public final class BackstoreDaemon implements ControlServer.Backend, AutoCloseable {
  private static final Logger LOG = Logger.getLogger(BackstoreDaemon.class.getName());

  private final DataPlane plane;
  private final DeviceManager devices;
  private final AttachMode mode;
  private final ControlServer api;
  private final BlobAccessCheck blobs;
  private final long startedAt = System.currentTimeMillis();

  private BackstoreDaemon(BackstoreConfig config) throws IOException {
    Files.createDirectories(Path.of(config.runDir()));
    mode = HostCapabilities.choose(config.attachMode());
    plane = DataPlane.start(config);
    blobs = new BlobAccessCheck(plane.registry());
    try {
      Attacher attacher =
          mode == AttachMode.KERNEL_NBD
              ? new KernelNbdAttacher(Duration.ofSeconds(config.timeouts().deadConnectionSec()))
              : new FuseLoopAttacher(Path.of(config.runDir()));
      devices = plane.deviceManager(attacher);
      devices.recover();
      api = ControlServer.start(Path.of(config.socket()), this);
    } catch (IOException | RuntimeException e) {
      plane.close();
      throw e;
    }
    LOG.info(
        "obd-backstore serving on "
            + config.socket()
            + " (attach mode "
            + mode.configName()
            + ", "
            + devices.size()
            + " devices recovered)");
  }

  public static BackstoreDaemon start(BackstoreConfig config) throws IOException {
    return new BackstoreDaemon(config);
  }

  /**
   * Runs until SIGTERM/SIGINT. systemd ({@code Type=notify}) hears {@code READY=1} once recorded
   * devices are reconnected and the control socket serves, so units ordered after this one (the
   * snapshotter) start against a backstore that answers; {@code STOPPING=1} when a stop begins.
   */
  public static void run(BackstoreConfig config, SystemdNotifier systemd)
      throws IOException, InterruptedException {
    CountDownLatch stop = new CountDownLatch(1);
    Signals.onTermination(stop::countDown);
    BackstoreDaemon d = start(config);
    try {
      systemd.notify(
          "READY=1\nSTATUS=serving " + d.devices.size() + " devices on " + config.socket());
      stop.await();
      systemd.notify("STOPPING=1");
      LOG.info("stopping; devices stay attached for the next start");
    } finally {
      d.close();
    }
  }

  @Override
  public DeviceInfo add(Path config) throws DeviceException {
    return devices.add(config);
  }

  @Override
  public void remove(String key) throws DeviceException {
    devices.remove(key);
  }

  @Override
  public DeviceInfo get(String key) throws DeviceException {
    return devices.get(key);
  }

  @Override
  public List<DeviceInfo> list() {
    return devices.list();
  }

  @Override
  public void checkBlob(String repoBlobUrl, String digest, long size) throws DeviceException {
    blobs.check(repoBlobUrl, digest, size);
  }

  @Override
  public DaemonInfo info() {
    RangeCache.Stats c = plane.cache().stats();
    return new DaemonInfo(
        mode.configName(),
        devices.size(),
        plane.registry().bytesFetched(),
        plane.registry().requests(),
        c.hits(),
        c.misses(),
        c.corruptDetected(),
        c.usedBytes(),
        c.capacity(),
        ProcessHandle.current().pid(),
        startedAt);
  }

  @Override
  public void putCredentials(RegistryCredential c) {
    plane
        .pushedCredentials()
        .put(c.host(), c.repository(), c.username(), c.secret(), c.identityToken(), c.expiresAt());
    // the user name is no secret (registry errors name it too); the secret never appears
    LOG.fine(
        "keeping pushed credentials for "
            + c.host()
            + "/"
            + c.repository()
            + " until "
            + c.expiresAt());
  }

  @Override
  public void close() {
    api.close();
    devices.close();
    plane.close();
  }
}
