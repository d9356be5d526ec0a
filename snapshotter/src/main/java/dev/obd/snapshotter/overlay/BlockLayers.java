package dev.obd.snapshotter.overlay;

import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.image.config.LowerConfig;
import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.device.BlockMounter;
import dev.obd.snapshotter.device.DeviceAttacher;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.errdefs.UnavailableException;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import dev.obd.snapshotter.overlaybd.StorageType;
import dev.obd.snapshotter.overlaybd.TraceDirectory;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.ReadView;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The OverlayBD side of the snapshotter: {@code config.v1.json} of block layers, their devices and
 * the mounts of their filesystems, and the lifetime of those devices.
 *
 * <p>An image's top block layer T owns one read-only device, shared by every container on the
 * image, mounted at {@code <T>/block/mountpoint}. Which device is attached for T is persisted in
 * its record; which snapshots use it is not stored but read from the parent chains (every active
 * snapshot or view whose nearest block ancestor is T), so it cannot drift. Attaching happens
 * outside metadata transactions (it may wait for a registry), one at a time per device.
 *
 * <p>Thread-safe.
 */
final class BlockLayers {
  private static final Logger LOG = Logger.getLogger(BlockLayers.class.getName());
  static final Duration ATTACH_DEADLINE = Duration.ofSeconds(120);
  static final Duration DETACH_DEADLINE = Duration.ofSeconds(30);

  private final SnapshotLayout layout;
  private final MetaStore store;
  private final DeviceAttacher attacher;
  private final BlockMounter mounter;
  private final String defaultFsType;
  private final TraceDirectory traces;
  private final List<MirrorRegistry> mirrors;
  private final boolean autoRemoveDev;
  private final Map<Long, Object> deviceLocks = new ConcurrentHashMap<>();

  BlockLayers(
      SnapshotLayout layout,
      MetaStore store,
      DeviceAttacher attacher,
      BlockMounter mounter,
      String defaultFsType,
      TraceDirectory traces,
      List<MirrorRegistry> mirrors,
      boolean autoRemoveDev) {
    this.layout = layout;
    this.store = store;
    this.attacher = attacher;
    this.mounter = mounter;
    this.defaultFsType = defaultFsType;
    this.traces = traces;
    this.mirrors = List.copyOf(mirrors);
    this.autoRemoveDev = autoRemoveDev;
  }

  String attacherName() {
    return attacher.name();
  }

  static StorageType storage(SnapshotRecord r) {
    return StorageType.fromCode(r.storageType());
  }

  /** The nearest ancestor of {@code r} (itself excluded) that is a block layer. */
  static Optional<SnapshotRecord> blockTop(ReadView view, SnapshotRecord r) {
    SnapshotRecord current = r;
    while (current.hasParent()) {
      current = view.byId(current.parentId()).orElseThrow();
      if (storage(current).isBlock()) {
        return Optional.of(current);
      }
    }
    return Optional.empty();
  }

  /**
   * The directories below {@code r}, nearest first: the {@code fs} of ordinary ancestors down to
   * the first block ancestor, whose device's mount point then stands for it and everything below.
   * Mounts that device if needed (after a reboot, or for the first container).
   */
  List<Path> lowerDirs(SnapshotRecord r) {
    List<Path> dirs = new ArrayList<>();
    long top =
        store.read(
            view -> {
              SnapshotRecord current = r;
              while (current.hasParent()) {
                current = view.byId(current.parentId()).orElseThrow();
                if (storage(current).isBlock()) {
                  return current.id();
                }
                dirs.add(layout.fs(current.id()));
              }
              return 0L;
            });
    if (top != 0) {
      dirs.add(ensureMounted(top));
    }
    return dirs;
  }

  /**
   * The prefetch settings a new container on {@code parentKey} asks of its image, written into the
   * config.v1.json of the image's top block layer as upstream does at each container's Prepare: an
   * image ending in an acceleration layer replays that layer's trace; a container labelled {@code
   * record-trace=yes} with a {@code record-trace-path} records the trace into that (empty) file or
   * replays it; otherwise neither. A device attached already keeps the settings it was attached
   * with.
   *
   * @throws InvalidArgumentException when the trace path is not an existing regular file inside the
   *     record-trace directory (see {@link TraceDirectory})
   */
  void applyPrefetchLabels(String parentKey, Map<String, String> labels) {
    Optional<SnapshotRecord> top =
        store.read(
            view ->
                view.get(parentKey)
                    .flatMap(p -> storage(p).isBlock() ? Optional.of(p) : blockTop(view, p)));
    if (top.isEmpty()) {
      return;
    }
    boolean acceleration = "yes".equals(top.get().labels().get(Labels.ACCELERATION_LAYER));
    String requested = traces.fileFor(labels); // checked also where unused: one answer everywhere
    String trace = acceleration ? "" : requested;
    long id = top.get().id();
    synchronized (deviceLocks.computeIfAbsent(id, k -> new Object())) {
      ImageConfig current = readConfig(id);
      if (current.accelerationLayer() == acceleration && current.recordTracePath().equals(trace)) {
        return;
      }
      writeConfig(
          new ImageConfig(
              current.repoBlobUrl(),
              current.lowers(),
              current.upper(),
              current.resultFile(),
              acceleration,
              trace,
              current.download()),
          layout.config(id));
    }
  }

  /** Creates {@code block/} with its mount point in a snapshot directory being built. */
  static void createBlockDirs(Path snapshotDir) throws IOException {
    Path block = Files.createDirectories(snapshotDir.resolve("block"));
    Files.createDirectories(block.resolve("mountpoint"));
    Files.writeString(block.resolve("init-debug.log"), "");
  }

  /**
   * The config.v1.json of a remote layer with id {@code id} on {@code parent}: the parent's lowers
   * plus this blob, fetched from the repository of the layer's image.
   */
  ImageConfig remoteConfig(Optional<SnapshotRecord> parent, RemoteLayer layer, long id) {
    String host = layer.image().host();
    boolean insecure = mirrors.stream().anyMatch(m -> m.host().equals(host) && m.insecure());
    List<LowerConfig> lowers = new ArrayList<>(parentLowers(parent));
    lowers.add(LowerConfig.remote(layer.blobDigest(), layer.blobSize(), layout.fs(id).toString()));
    return ImageConfig.of(
        layer.image().blobUrl(insecure), lowers, layout.resultFile(id).toString());
  }

  /**
   * The config.v1.json of a local block layer with id {@code id} on {@code parent}: the parent's
   * lowers plus this layer's directory, where the backstore finds the layer file.
   */
  ImageConfig localConfig(Optional<SnapshotRecord> parent, long id) {
    List<LowerConfig> lowers = new ArrayList<>(parentLowers(parent));
    lowers.add(LowerConfig.ofDir(layout.fs(id).toString()));
    String blobUrl = parent.map(p -> readConfig(p.id()).repoBlobUrl()).orElse("");
    return ImageConfig.of(blobUrl, lowers, layout.resultFile(id).toString());
  }

  private List<LowerConfig> parentLowers(Optional<SnapshotRecord> parent) {
    if (parent.isEmpty() || !storage(parent.get()).isBlock()) {
      return List.of();
    }
    return readConfig(parent.get().id()).lowers();
  }

  ImageConfig readConfig(long id) {
    try {
      return ImageConfigJson.read(layout.config(id));
    } catch (IOException e) {
      throw new UncheckedIOException("read " + layout.config(id), e);
    }
  }

  static void writeConfig(ImageConfig config, Path file) {
    try {
      ImageConfigJson.write(config, file);
    } catch (IOException e) {
      throw new UncheckedIOException("write " + file, e);
    }
  }

  /**
   * Attaches the device of block layer {@code topId} and mounts its filesystem read-only at its
   * mount point, unless that is done already; returns the mount point.
   *
   * @throws UnavailableException when the device cannot be attached or mounted, with the reason
   */
  Path ensureMounted(long topId) {
    Path mountpoint = layout.mountpoint(topId);
    synchronized (deviceLocks.computeIfAbsent(topId, id -> new Object())) {
      if (mounter.isMounted(mountpoint)) {
        return mountpoint;
      }
      SnapshotRecord top =
          store
              .read(view -> view.byId(topId))
              .orElseThrow(() -> new NotFoundException("block layer " + topId + " is gone"));
      BlobFsType declared = fsType(top.labels());
      try {
        String device = attacher.attach(topId, layout.config(topId), ATTACH_DEADLINE);
        Files.writeString(layout.backstoreMark(topId), device);
        store.write(tx -> tx.setStorage(top.key(), top.storageType(), device));
        BlobFsType fs = declared.asDetected(mounter.detectFsType(device, declared.type()));
        mounter.mount(device, mountpoint, fs.type(), fs.mountData(), true);
        LOG.info(
            "mounted "
                + device
                + " ("
                + attacher.name()
                + ") of "
                + top.key()
                + " at "
                + mountpoint);
        return mountpoint;
      } catch (AttachException | IOException e) {
        throw new UnavailableException(
            "attach and mount the device of snapshot "
                + topId
                + " ("
                + top.key()
                + "): "
                + e.getMessage(),
            e);
      }
    }
  }

  /**
   * A layer's filesystem from its {@code blob-fs-type} label, or the configured default.
   *
   * @throws InvalidArgumentException when the label's value is not allowed (a record stored before
   *     labels were validated)
   */
  BlobFsType fsType(Map<String, String> labels) {
    return BlobFsType.of(labels, defaultFsType);
  }

  /** Active snapshots and views that use block layer {@code topId}'s device. */
  static List<SnapshotRecord> users(ReadView view, long topId) {
    List<SnapshotRecord> users = new ArrayList<>();
    for (SnapshotRecord r : view.all()) {
      if (r.kind() != Kind.COMMITTED
          && !storage(r).isBlock()
          && blockTop(view, r).map(t -> t.id() == topId).orElse(false)) {
        users.add(r);
      }
    }
    return users;
  }

  /**
   * Unmounts and detaches the device of block layer {@code r} before its removal.
   *
   * @throws FailedPreconditionException if its filesystem is still in use
   */
  void releaseForRemoval(SnapshotRecord r) {
    if (!storage(r).isBlock()) {
      return;
    }
    synchronized (deviceLocks.computeIfAbsent(r.id(), id -> new Object())) {
      try {
        mounter.unmount(layout.mountpoint(r.id()));
      } catch (AttachException e) {
        throw new FailedPreconditionException(
            "snapshot " + r.key() + " still has its mountpoint in use: " + e.getMessage(), e);
      }
      if (!r.device().isEmpty()) {
        try {
          attacher.detach(r.id(), layout.config(r.id()), DETACH_DEADLINE);
        } catch (AttachException e) {
          // the record goes anyway; reconciliation at the next start detaches what is left
          LOG.log(Level.WARNING, "could not detach the device of " + r.key(), e);
        }
      }
      deviceLocks.remove(r.id());
    }
  }

  /**
   * After a container on an image is removed: with {@code autoRemoveDev}, unmounts and detaches the
   * image's device if no other container uses it.
   */
  void releaseIfUnused(long topId) {
    if (!autoRemoveDev) {
      return;
    }
    synchronized (deviceLocks.computeIfAbsent(topId, id -> new Object())) {
      Optional<SnapshotRecord> top = store.read(view -> view.byId(topId));
      if (top.isEmpty() || top.get().device().isEmpty()) {
        return;
      }
      boolean used = store.read(view -> !users(view, topId).isEmpty());
      if (used) {
        return;
      }
      try {
        mounter.unmount(layout.mountpoint(topId));
        attacher.detach(topId, layout.config(topId), DETACH_DEADLINE);
        store.write(tx -> tx.setStorage(top.get().key(), top.get().storageType(), ""));
        LOG.info("detached the device of " + top.get().key() + ": no container uses it");
      } catch (AttachException e) {
        LOG.log(Level.WARNING, "could not release the device of " + top.get().key(), e);
      }
    }
  }

  /**
   * Brings the kernel and the backstore in line with the metadata, after a restart or a reboot:
   * devices no snapshot owns are detached, device records whose device is gone are cleared, and
   * images that containers use are attached and mounted again. Failures are logged: each piece is
   * retried on demand when a container needs it.
   */
  void reconcile() {
    Map<Long, String> attached;
    try {
      attached = attacher.attached(DETACH_DEADLINE);
    } catch (AttachException e) {
      LOG.warning(
          "cannot reconcile OverlayBD devices now ("
              + e.getMessage()
              + "); they are attached again when containers need them");
      attached = null;
    }
    int detached = 0;
    int cleared = 0;
    int remounted = 0;
    if (attached != null) {
      for (Map.Entry<Long, String> a : attached.entrySet()) {
        long id = a.getKey();
        boolean owned =
            store.read(view -> view.byId(id).map(r -> storage(r).isBlock()).orElse(false));
        if (!owned) {
          try {
            attacher.detach(id, layout.config(id), DETACH_DEADLINE);
            detached++;
          } catch (AttachException e) {
            LOG.log(Level.WARNING, "could not detach orphaned device " + a.getValue(), e);
          }
        }
      }
      Set<Long> present = new HashSet<>(attached.keySet());
      List<SnapshotRecord> stale =
          store.read(
              view ->
                  view.all().stream()
                      .filter(r -> !r.device().isEmpty() && !present.contains(r.id()))
                      .toList());
      for (SnapshotRecord r : stale) {
        if (mounter.isMounted(layout.mountpoint(r.id()))) {
          mounter.detachLazily(layout.mountpoint(r.id()));
        }
        store.write(tx -> tx.setStorage(r.key(), r.storageType(), ""));
        cleared++;
      }
    }
    List<Long> inUse =
        store.read(
            view ->
                view.all().stream()
                    .filter(r -> storage(r).isBlock() && r.kind() == Kind.COMMITTED)
                    .filter(r -> !users(view, r.id()).isEmpty())
                    .map(SnapshotRecord::id)
                    .toList());
    for (long id : inUse) {
      try {
        ensureMounted(id);
        remounted++;
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "could not attach the device of snapshot " + id + " again", e);
      }
    }
    if (detached + cleared + remounted > 0) {
      LOG.info(
          "reconciled OverlayBD devices: "
              + detached
              + " orphaned detached, "
              + cleared
              + " stale records cleared, "
              + remounted
              + " in use attached and mounted");
    }
  }
}
