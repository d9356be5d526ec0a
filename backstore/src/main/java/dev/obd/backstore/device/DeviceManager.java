package dev.obd.backstore.device;

import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceState;
import dev.obd.backstore.attach.AttachException;
import dev.obd.backstore.attach.Attacher;
import dev.obd.backstore.attach.Attachment;
import dev.obd.backstore.attach.DeviceHeldException;
import dev.obd.backstore.nbd.Export;
import dev.obd.backstore.nbd.IoStats;
import dev.obd.backstore.nbd.NbdServer;
import dev.obd.backstore.nbd.NbdTransport;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Owns the daemon's devices: adds one per config (open the image, serve it over NBD, attach it),
 * removes them, lists them, and after a restart reconnects every recorded device to a new server.
 * Device lifetime is explicit: a device exists exactly while its record is in the state store.
 *
 * <p>Thread-safe. Operations on one config are serialised; different configs proceed in parallel.
 */
public final class DeviceManager implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(DeviceManager.class.getName());

  private final ImageOpener opener;
  private final Attacher attacher;
  private final NbdTransport transport;
  private final StateStore store;
  private final Path runDir;
  private final int blockSize;
  private final Duration attachDeadline;
  private final ExecutorService openPool;
  private final Map<String, Device> devices = new ConcurrentHashMap<>();
  private final Map<String, Object> locks = new ConcurrentHashMap<>();

  /** A live device: its record, its image and server, or why it is broken. */
  private record Device(DeviceRecord record, OpenedImage image, NbdServer server, String error) {}

  DeviceManager(
      ImageOpener opener,
      Attacher attacher,
      NbdTransport transport,
      StateStore store,
      Path runDir,
      int blockSize,
      Duration attachDeadline,
      ExecutorService openPool) {
    this.opener = opener;
    this.attacher = attacher;
    this.transport = transport;
    this.store = store;
    this.runDir = runDir;
    this.blockSize = blockSize;
    this.attachDeadline = attachDeadline;
    this.openPool = openPool;
  }

  /** The stable id of the device for {@code config}. */
  static String idFor(Path config) {
    try {
      byte[] h =
          MessageDigest.getInstance("SHA-256")
              .digest(config.toString().getBytes(StandardCharsets.UTF_8));
      return "d" + HexFormat.of().formatHex(h, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Attaches the image of {@code configPath}; returns the existing device if it is attached
   * already. Writes the config's resultFile either way.
   *
   * @throws BadDeviceConfigException when the config cannot be read or is invalid
   * @throws DeviceFailedException when opening, serving or attaching the image fails
   */
  public DeviceInfo add(Path configPath) throws DeviceException {
    Path config = configPath.toAbsolutePath().normalize();
    String id = idFor(config);
    synchronized (locks.computeIfAbsent(id, k -> new Object())) {
      Device existing = devices.get(id);
      if (existing != null && existing.error().isEmpty()) {
        return info(existing);
      }
      String what = "attach device for config " + config;
      ImageConfig cfg;
      try {
        cfg = ImageConfigJson.read(config);
      } catch (IOException e) {
        throw new BadDeviceConfigException(what + ": " + e.getMessage(), e);
      }
      long end = System.nanoTime() + attachDeadline.toNanos();
      OpenedImage image = null;
      NbdServer server = null;
      try {
        image = openWithin(cfg, id, end, what);
        server = serve(id, config, image);
        Attachment a = attacher.attach(id, server, remaining(end, what));
        DeviceRecord record =
            new DeviceRecord(id, config.toString(), a, System.currentTimeMillis());
        try {
          store.save(record);
        } catch (IOException e) {
          try {
            attacher.detach(a, Duration.ofSeconds(10));
          } catch (AttachException d) {
            e.addSuppressed(d);
          }
          throw e;
        }
        Device d = new Device(record, image, server, "");
        devices.put(id, d);
        ResultFile.success(cfg.resultFile());
        LOG.info(
            "added " + a.device() + " for config " + config + " (" + a.mode().configName() + ")");
        return info(d);
      } catch (IOException | RuntimeException e) {
        closeQuietly(server, image);
        String reason = e.getMessage() != null ? e.getMessage() : e.toString();
        ResultFile.failed(cfg.resultFile(), reason);
        LOG.log(Level.WARNING, what + " failed: " + reason, LOG.isLoggable(Level.FINE) ? e : null);
        throw new DeviceFailedException(reason.startsWith(what) ? reason : what + ": " + reason, e);
      }
    }
  }

  private OpenedImage openWithin(ImageConfig cfg, String id, long end, String what)
      throws IOException {
    Future<OpenedImage> f = openPool.submit(() -> opener.open(cfg, id));
    try {
      return f.get(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      f.cancel(true);
      openPool.execute(
          () -> {
            try {
              f.get().close();
            } catch (Exception ignored) {
              // opening failed or was cancelled: nothing to close
            }
          });
      throw new IOException("opening the image layers did not finish within " + attachDeadline, e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      throw c instanceof IOException io ? io : new IOException(c.toString(), c);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  private NbdServer serve(String id, Path config, OpenedImage image) throws IOException {
    NbdServer server =
        NbdServer.create(new Export(id, config.toString(), image.disk, blockSize), transport);
    try {
      return server.listen(runDir.resolve("nbd").resolve(id + ".sock"), Duration.ofSeconds(10));
    } catch (IOException e) {
      server.close();
      throw e;
    }
  }

  /**
   * Detaches and forgets the device named by {@code key}: its id, its block device path, or its
   * config path.
   *
   * @throws NoSuchDeviceException when no device matches
   * @throws DeviceBusyException when the kernel reports the device in use
   * @throws DeviceFailedException when detaching fails otherwise
   */
  public void remove(String key) throws DeviceException {
    Device d = find(key);
    String id = d.record().id();
    synchronized (locks.computeIfAbsent(id, k -> new Object())) {
      d = devices.get(id);
      if (d == null) {
        throw new NoSuchDeviceException("remove device " + key + ": no such device");
      }
      Attachment a = d.record().attachment();
      try {
        attacher.detach(a, attachDeadline);
      } catch (AttachException e) {
        String message = "remove device " + a.device() + ": " + e.getMessage();
        throw e instanceof DeviceHeldException
            ? new DeviceBusyException(message, e)
            : new DeviceFailedException(message, e);
      }
      devices.remove(id);
      closeQuietly(d.server(), d.image());
      try {
        store.delete(id);
      } catch (IOException e) {
        LOG.warning("forget device record " + id + ": " + e.getMessage());
      }
      LOG.info("removed " + a.device() + " (config " + d.record().config() + ")");
    }
  }

  private Device find(String key) throws NoSuchDeviceException {
    for (Device d : devices.values()) {
      DeviceRecord r = d.record();
      if (r.id().equals(key) || r.attachment().device().equals(key) || r.config().equals(key)) {
        return d;
      }
    }
    Device byConfig = devices.get(idFor(Path.of(key).toAbsolutePath().normalize()));
    if (byConfig != null) {
      return byConfig;
    }
    throw new NoSuchDeviceException("no device for '" + key + "' (id, device or config path)");
  }

  /**
   * @throws NoSuchDeviceException when no device matches
   */
  public DeviceInfo get(String key) throws NoSuchDeviceException {
    return info(find(key));
  }

  public List<DeviceInfo> list() {
    List<DeviceInfo> out = new ArrayList<>();
    devices.values().stream()
        .sorted(Comparator.comparingLong(d -> d.record().createdMillis()))
        .forEach(d -> out.add(info(d)));
    return out;
  }

  public int size() {
    return devices.size();
  }

  /**
   * After a restart: reopens every recorded device and reconnects its kernel side to a new server.
   * A device whose kernel side is gone is forgotten; one that cannot be reconnected is listed as
   * broken with the reason.
   */
  public void recover() throws IOException {
    for (DeviceRecord r : store.loadAll()) {
      Attachment a = r.attachment();
      if (a.mode() != attacher.mode()) {
        broken(
            r,
            "recorded with attach mode "
                + a.mode().configName()
                + ", daemon now uses "
                + attacher.mode().configName());
        continue;
      }
      if (!attacher.exists(a)) {
        LOG.info(
            "forgetting "
                + a.device()
                + " (config "
                + r.config()
                + "): the kernel no longer has it");
        store.delete(r.id());
        continue;
      }
      long end = System.nanoTime() + attachDeadline.toNanos();
      OpenedImage image = null;
      NbdServer server = null;
      try {
        ImageConfig cfg = ImageConfigJson.read(Path.of(r.config()));
        image = openWithin(cfg, r.id(), end, "reopen " + r.config());
        server = serve(r.id(), Path.of(r.config()), image);
        Attachment now = attacher.reconnect(r.id(), a, server, remaining(end, "reconnect"));
        DeviceRecord updated = new DeviceRecord(r.id(), r.config(), now, r.createdMillis());
        store.save(updated);
        devices.put(r.id(), new Device(updated, image, server, ""));
      } catch (IOException | RuntimeException e) {
        closeQuietly(server, image);
        broken(r, e.getMessage());
      }
    }
  }

  private void broken(DeviceRecord r, String reason) {
    LOG.warning(
        "device " + r.attachment().device() + " (config " + r.config() + ") is broken: " + reason);
    devices.put(r.id(), new Device(r, null, null, reason));
  }

  private DeviceInfo info(Device d) {
    DeviceRecord r = d.record();
    IoStats.Snapshot s =
        d.server() == null ? new IoStats().snapshot() : d.server().stats().snapshot();
    return new DeviceInfo(
        r.id(),
        r.config(),
        r.attachment().device(),
        r.attachment().mode().configName(),
        d.error().isEmpty() ? DeviceState.ATTACHED : DeviceState.BROKEN,
        d.error(),
        d.image() == null || !d.image().disk.writable(),
        d.image() == null ? 0 : d.image().disk.size(),
        new DeviceInfo.Stats(
            s.reads(),
            s.bytesRead(),
            s.writes(),
            s.bytesWritten(),
            s.trims(),
            s.flushes(),
            s.errors(),
            s.inFlight(),
            s.connections()));
  }

  private static Duration remaining(long end, String what) throws AttachException {
    long left = end - System.nanoTime();
    if (left <= 0) {
      throw new AttachException(what + ": deadline passed");
    }
    return Duration.ofNanos(left);
  }

  private static void closeQuietly(NbdServer server, OpenedImage image) {
    if (server != null) {
      server.close();
    }
    if (image != null) {
      try {
        image.close();
      } catch (IOException e) {
        LOG.warning("close image: " + e.getMessage());
      }
    }
  }

  /**
   * Stops serving without detaching: kernel devices stay, waiting for the next daemon (kernel nbd
   * holds their I/O; nbdfuse devices fail reads until then).
   */
  @Override
  public void close() {
    for (Device d : devices.values()) {
      closeQuietly(d.server(), d.image());
    }
    devices.clear();
  }
}
