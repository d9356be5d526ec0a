package dev.obd.snapshotter.overlay;

import dev.obd.image.ImageFormatException;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.image.config.LowerConfig;
import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.errdefs.UnavailableException;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import dev.obd.snapshotter.overlaybd.TraceDirectory;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.PendingDetach;
import dev.obd.snapshotter.storage.ReadView;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The OverlayBD layers of the snapshotter: the {@code config.v1.json} of block layers, and which
 * image device each container uses, read-only and shared.
 *
 * <p>An image's top block layer T owns one read-only device, shared by every container on the
 * image, mounted at {@code <T>/block/mountpoint}. Which device is attached for T is persisted in
 * its record; which snapshots use it is not stored but read from the parent chains (every active
 * snapshot or view whose nearest block ancestor is T, layers being unpacked excepted), so it cannot
 * drift. The device itself is attached, mounted and detached by {@link DeviceLifetime}, outside
 * metadata transactions (attaching may wait for a registry), one caller at a time per device.
 *
 * <p>Thread-safe.
 */
final class BlockLayers {
  private static final Logger LOG = Logger.getLogger(BlockLayers.class.getName());

  private final SnapshotLayout layout;
  private final MetaStore store;
  private final DeviceLifetime devices;
  private final String defaultFsType;
  private final TraceDirectory traces;
  private final List<MirrorRegistry> mirrors;
  private final boolean autoRemoveDev;

  BlockLayers(
      SnapshotLayout layout,
      MetaStore store,
      DeviceLifetime devices,
      String defaultFsType,
      TraceDirectory traces,
      List<MirrorRegistry> mirrors,
      boolean autoRemoveDev) {
    this.layout = layout;
    this.store = store;
    this.devices = devices;
    this.defaultFsType = defaultFsType;
    this.traces = traces;
    this.mirrors = List.copyOf(mirrors);
    this.autoRemoveDev = autoRemoveDev;
  }

  /** The nearest ancestor of {@code r} (itself excluded) that is a block layer. */
  static Optional<SnapshotRecord> blockTop(ReadView view, SnapshotRecord r) {
    SnapshotRecord current = r;
    while (current.hasParent()) {
      current = view.byId(current.parentId()).orElseThrow();
      if (current.storageType().isBlock()) {
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
                if (current.storageType().isBlock()) {
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
  void applyPrefetchLabels(String parentKey, PrepareLabels labels) {
    Optional<SnapshotRecord> top =
        store.read(
            view ->
                view.get(parentKey)
                    .flatMap(p -> p.storageType().isBlock() ? Optional.of(p) : blockTop(view, p)));
    if (top.isEmpty()) {
      return;
    }
    boolean acceleration = "yes".equals(top.get().labels().get(Labels.ACCELERATION_LAYER));
    // checked also where unused: one answer everywhere
    String requested = labels.recordTracePath().map(p -> traces.resolve(p).toString()).orElse("");
    String trace = acceleration ? "" : requested;
    long id = top.get().id();
    String recordTrace = trace;
    devices.locked(
        id,
        "write the prefetch settings of snapshot " + id,
        () -> {
          ImageConfig current = readConfig(id);
          if (current.accelerationLayer() == acceleration
              && current.recordTracePath().equals(recordTrace)) {
            return null;
          }
          writeConfig(current.withPrefetch(acceleration, recordTrace), layout.config(id));
          return null;
        });
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
    List<LowerConfig> lowers =
        lowersWith(
            parent,
            LowerConfig.remote(layer.blobDigest(), layer.blobSize(), layout.fs(id).toString()));
    return ImageConfig.of(repoBlobUrl(layer), lowers, layout.resultFile(id).toString());
  }

  /**
   * The {@code repoBlobUrl} of a remote layer's config.v1.json: its image's repository, over plain
   * http only for a registry configured as an insecure mirror.
   */
  String repoBlobUrl(RemoteLayer layer) {
    String host = layer.image().host();
    boolean insecure = mirrors.stream().anyMatch(m -> m.host().equals(host) && m.insecure());
    return layer.image().blobUrl(insecure);
  }

  /**
   * The config.v1.json of a local block layer with id {@code id} on {@code parent}: the parent's
   * lowers plus this layer's directory, where the backstore finds the layer file.
   */
  ImageConfig localConfig(Optional<SnapshotRecord> parent, long id) {
    List<LowerConfig> lowers = lowersWith(parent, LowerConfig.ofDir(layout.fs(id).toString()));
    String blobUrl = parent.map(p -> readConfig(p.id()).repoBlobUrl()).orElse("");
    return ImageConfig.of(blobUrl, lowers, layout.resultFile(id).toString());
  }

  /**
   * The parent's lowers and {@code top} above them.
   *
   * @throws FailedPreconditionException when the parent stacks as many layers as overlaybd can
   */
  private List<LowerConfig> lowersWith(Optional<SnapshotRecord> parent, LowerConfig top) {
    List<LowerConfig> lowers = new ArrayList<>();
    if (parent.isPresent() && parent.get().storageType().isBlock()) {
      lowers.addAll(readConfig(parent.get().id()).lowers());
    }
    if (lowers.size() >= ImageConfig.MAX_LOWERS) {
      throw new FailedPreconditionException(
          "parent snapshot "
              + parent.get().key()
              + " stacks "
              + lowers.size()
              + " block layers, as many as overlaybd can: no layer can go on top");
    }
    lowers.add(top);
    return lowers;
  }

  /**
   * The config.v1.json of block layer {@code id}.
   *
   * @throws FailedPreconditionException when the file is not a valid config (the snapshot's files
   *     are damaged: the request was fine, the state is not)
   */
  ImageConfig readConfig(long id) {
    try {
      return ImageConfigJson.read(layout.config(id));
    } catch (ImageFormatException e) {
      throw new FailedPreconditionException("snapshot " + id + ": " + e.getMessage(), e);
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
    return devices.locked(
        topId,
        "attach the device of snapshot " + topId,
        () -> {
          if (devices.isMounted(topId)) {
            return mountpoint;
          }
          SnapshotRecord top =
              store
                  .read(view -> view.byId(topId))
                  .orElseThrow(() -> new NotFoundException("block layer " + topId + " is gone"));
          BlobFsType declared = fsType(top.labels());
          try {
            String device = devices.attach(top);
            BlobFsType fs = declared.asDetected(devices.detectFsType(device, declared.type()));
            devices.mount(topId, device, fs.type(), fs.mountData(), true);
            LOG.info(
                "mounted "
                    + device
                    + " ("
                    + devices.attacherName()
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
        });
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

  /** The filesystem {@code declared}, or the configured default when none is. */
  BlobFsType fsType(Optional<BlobFsType> declared) {
    return declared.orElseGet(() -> BlobFsType.defaults(defaultFsType));
  }

  /**
   * Whether snapshot {@code r} uses the device of an image: an active snapshot or view whose
   * nearest block ancestor is {@code topId}, except a layer being unpacked.
   */
  private static boolean uses(ReadView view, SnapshotRecord r, long topId) {
    return r.kind() != Kind.COMMITTED
        && !r.storageType().isBlock()
        && !LayerExtraction.recognises(r)
        && blockTop(view, r).map(t -> t.id() == topId).orElse(false);
  }

  /** Whether any container or view uses the device of block layer {@code top}. */
  boolean inUse(SnapshotRecord top) {
    return top.storageType().isBlock()
        && top.kind() == Kind.COMMITTED
        && store.read(view -> view.all().stream().anyMatch(r -> uses(view, r, top.id())));
  }

  /** The block layers whose devices containers or views use now. */
  List<Long> topsInUse() {
    return store.read(
        view -> {
          Set<Long> tops = new HashSet<>();
          for (SnapshotRecord r : view.all()) {
            if (r.kind() != Kind.COMMITTED
                && !r.storageType().isBlock()
                && !LayerExtraction.recognises(r)) {
              blockTop(view, r).ifPresent(t -> tops.add(t.id()));
            }
          }
          return List.copyOf(tops);
        });
  }

  /**
   * Unmounts the filesystem of block layer {@code r}'s device before its removal and detaches the
   * device. Call holding {@code r}'s device lock, and remove the record under it too.
   *
   * @return the pending detach to record with the removal when the detach failed (the filesystem is
   *     still in use elsewhere, e.g. in another mount namespace)
   * @throws FailedPreconditionException if its filesystem is still in use at its own mount point
   *     (then nothing changed)
   */
  Optional<PendingDetach> releaseForRemoval(SnapshotRecord r) {
    if (!r.storageType().isBlock()) {
      return Optional.empty();
    }
    devices.unmount(r.id(), r.key());
    if (!devices.mayBeAttached(r)) {
      return Optional.empty();
    }
    return devices.detachOrPending(r.id(), r.device());
  }

  /**
   * After a container on an image is removed: with {@code autoRemoveDev}, unmounts and detaches the
   * image's device if no other container uses it. A detach that fails is retried (pending) while
   * the device stays unused.
   */
  void releaseIfUnused(long topId) {
    if (!autoRemoveDev) {
      return;
    }
    devices.locked(
        topId,
        "release the device of snapshot " + topId,
        () -> {
          Optional<SnapshotRecord> top = store.read(view -> view.byId(topId));
          if (top.isEmpty() || top.get().device().isEmpty() || inUse(top.get())) {
            return null;
          }
          try {
            devices.unmount(topId, top.get().key());
          } catch (FailedPreconditionException e) {
            LOG.log(Level.WARNING, "could not release the device of " + top.get().key(), e);
            return null;
          }
          Optional<PendingDetach> pending = devices.detachOrPending(topId, top.get().device());
          if (pending.isPresent()) {
            devices.recordPending(pending.get());
          } else {
            devices.clearRecordedDevice(topId);
            LOG.info("detached the device of " + top.get().key() + ": no container uses it");
          }
          return null;
        });
  }
}
