package dev.obd.snapshotter.overlay;

import dev.obd.image.FileByteSource;
import dev.obd.image.ImageFormatException;
import dev.obd.image.LayerFiles;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.config.UpperConfig;
import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerReader;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.device.Mkfs;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.errdefs.UnavailableException;
import dev.obd.snapshotter.fs.DiskUsage;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.PendingDetach;
import dev.obd.snapshotter.storage.SnapshotRecord;
import dev.obd.snapshotter.storage.StorageType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Containers with their own writable OverlayBD device (rwMode {@code dir} or {@code dev}, or the
 * {@code containerd.io/snapshot/overlaybd.writable} label): the image's layers stay the lowers and
 * the container's writes go to a writable layer in {@code block/writable_data} and {@code
 * block/writable_index}: append-only, or sparse with {@code writableLayerType: sparse} (upstream's
 * {@code overlaybd-create -s}; the index file is then created but unused, and config.v1.json names
 * both files either way, as upstream's does). In {@code dir} mode the snapshotter mounts the device
 * read-write at {@code block/mountpoint} and hands out a bind mount of it; in {@code dev} mode it
 * hands out the device itself, for a caller that mounts it (a VM runtime, BuildKit). Commit seals
 * the writable layer into {@code fs/overlaybd.sealed}, after which the snapshot is a local block
 * layer that further images and containers stack on.
 *
 * <p>Such a snapshot is recorded as a local block layer while active, with the mode in its {@code
 * overlaybd.writable} label (also when the mode came from the configuration), so that Mounts,
 * Commit, Remove and reconciliation after a reboot know it without looking at files.
 */
final class WritableDevices {
  private static final Logger LOG = Logger.getLogger(WritableDevices.class.getName());
  static final Path DATA = Path.of("writable_data");
  static final Path INDEX = Path.of("writable_index");
  static final Path SEALED = Path.of(LayerFiles.SEALED);
  private static final Duration MKFS_DEADLINE = Duration.ofSeconds(120);

  private final SnapshotLayout layout;
  private final MetaStore store;
  private final BlockLayers blocks;
  private final DeviceLifetime devices;
  private final RwMode defaultMode;
  private final boolean sparse;

  WritableDevices(
      SnapshotLayout layout,
      MetaStore store,
      BlockLayers blocks,
      DeviceLifetime devices,
      RwMode defaultMode,
      boolean sparse) {
    this.layout = layout;
    this.store = store;
    this.blocks = blocks;
    this.devices = devices;
    this.defaultMode = defaultMode;
    this.sparse = sparse;
  }

  /**
   * The mode of a new snapshot: only a container's rootfs on an OverlayBD image, or on nothing, can
   * be writable; its label wins over the configured {@code rwMode}. A layer being unpacked never
   * is, however containerd marks it ({@link LayerExtraction}: upstream recognises only the labels,
   * which containerd 1.6's {@code ctr images pull} does not send, and so formats a writable device
   * for each layer and unpacks the layer into it). Views are always read-only (upstream would give
   * a view its own writable device, which nobody can write).
   */
  RwMode modeOf(PrepareLabels labels, Optional<SnapshotRecord> parent) {
    if (labels.purpose() != PrepareLabels.Purpose.CONTAINER
        || (parent.isPresent() && !parent.get().storageType().isBlock())) {
      return RwMode.OVERLAYFS;
    }
    return labels.writable().orElse(defaultMode);
  }

  /** The writable mode recorded for {@code r}, overlayfs for every other snapshot. */
  static RwMode modeOf(SnapshotRecord r) {
    if (r.kind() != Kind.ACTIVE || r.storageType() != StorageType.LOCAL_BLOCK) {
      return RwMode.OVERLAYFS;
    }
    return PrepareLabels.writableMode(r.labels().getOrDefault(Labels.WRITABLE, ""));
  }

  /**
   * The labels stored for a new snapshot of {@code mode}: the writable label states the mode of a
   * writable one, and is dropped from any other (upstream's fix for its issue #123).
   */
  static Map<String, String> labelsFor(RwMode mode, Map<String, String> labels) {
    Map<String, String> out = new java.util.HashMap<>(labels);
    if (mode == RwMode.OVERLAYFS) {
      out.remove(Labels.WRITABLE);
    } else {
      out.put(Labels.WRITABLE, mode.json());
    }
    return out;
  }

  /**
   * Creates, in the directory {@code temp} that becomes snapshot {@code r}'s, the block directory,
   * an empty writable layer and the device's config.v1.json: the parent image's lowers under this
   * upper. Without a parent, a fresh disk of the {@code vsize} label's size (default 64 GB), with
   * the filesystem {@code labels} declare.
   *
   * <p>The writable layer's headers say the size of the disk, as {@code overlaybd-create} writes
   * them: the image's virtual size when the image's layers are on this machine (read from the
   * topmost layer that states one, the rule by which overlaybd sizes a stack). For an image whose
   * layers are still remote it is not known here without a registry round trip; the headers then
   * say 0 and the backstore records the size in both at the first attach, as overlaybd-tcmu does.
   * The config's {@code upper.vsize} stays as upstream writes it (0 with a parent).
   */
  void createFiles(
      Path temp, SnapshotRecord r, Optional<SnapshotRecord> parent, PrepareLabels labels) {
    try {
      if (parent.isEmpty()) {
        blocks.fsType(labels.fsType()).requireFormattable();
      }
      BlockLayers.createBlockDirs(temp);
      long id = r.id();
      int vsizeGb = parent.isPresent() ? 0 : labels.vsizeGb();
      Path block = temp.resolve("block");
      ImageConfig base =
          parent.isPresent()
              ? blocks.readConfig(parent.get().id())
              : ImageConfig.of("", List.of(), layout.resultFile(id).toString());
      long virtualSize = parent.isPresent() ? localVirtualSize(base) : vsizeGb * (1L << 30);
      Path data = block.resolve(DATA);
      Path index = block.resolve(INDEX);
      (sparse
              ? WritableLayer.createSparse(
                  data, index, virtualSize, LayerUuid.random(), LayerUuid.NIL)
              : WritableLayer.create(data, index, virtualSize, LayerUuid.random(), LayerUuid.NIL))
          .close();
      ImageConfig config =
          base.withUpper(
                  UpperConfig.writable(
                      layout.block(id).resolve(INDEX).toString(),
                      layout.block(id).resolve(DATA).toString(),
                      vsizeGb))
              .withResultFile(layout.resultFile(id).toString());
      BlockLayers.writeConfig(config, block.resolve("config.v1.json"));
    } catch (IOException e) {
      throw new UncheckedIOException("create the writable layer of " + r.key(), e);
    }
  }

  /**
   * The virtual size of the disk {@code image}'s lowers make: that of the topmost layer stating one
   * (&gt; 0), or 0 when a layer above it is not on this machine (a remote layer not downloaded).
   */
  static long localVirtualSize(ImageConfig image) throws IOException {
    List<LowerConfig> lowers = image.lowers();
    for (int i = lowers.size() - 1; i >= 0; i--) {
      Optional<Path> file = lowers.get(i).resolveLocalFile();
      if (file.isEmpty()) {
        return 0;
      }
      FileByteSource source = FileByteSource.open(file.get());
      Layer layer;
      try {
        layer = LayerReader.open(source);
      } catch (IOException | RuntimeException e) {
        source.close();
        // the attach will say what is wrong with the layer; its size is not known here
        LOG.log(Level.WARNING, "cannot read the virtual size of " + file.get(), e);
        return 0;
      }
      try (layer) {
        long size = layer.virtualSize();
        if (size % 512 != 0) {
          // a disk is made of 512-byte sectors: overlaybd would refuse this stack at attach
          throw new FailedPreconditionException(
              "layer "
                  + file.get()
                  + " states a virtual disk size of "
                  + size
                  + " bytes, not a whole number of 512-byte sectors");
        }
        if (size > 0) {
          return size;
        }
      }
    }
    return 0;
  }

  /**
   * The mounts of writable snapshot {@code r}: attaches its device (and formats it when it was just
   * created without a parent), mounts it in {@code dir} mode. Also after a reboot, when the device
   * is gone: it is attached and mounted again.
   *
   * @throws UnavailableException when the device cannot be attached, formatted or mounted
   */
  List<Mount> mounts(SnapshotRecord r, boolean fresh) {
    RwMode mode = modeOf(r);
    long id = r.id();
    return devices.locked(
        id,
        "attach the writable device of snapshot " + id,
        () -> {
          Path mountpoint = layout.mountpoint(id);
          if (mode == RwMode.DIR && devices.isMounted(id)) {
            return List.of(Mount.bind(mountpoint.toString(), false));
          }
          BlobFsType declared = blocks.fsType(fsLabels(r));
          try {
            Optional<String> current = devices.current(r);
            String device;
            if (current.isPresent()) {
              device = current.get();
            } else {
              device = devices.attach(r);
              if (fresh && !r.hasParent()) {
                Mkfs.format(device, declared.type(), MKFS_DEADLINE);
              }
            }
            BlobFsType fs = declared.asDetected(devices.detectFsType(device, declared.type()));
            if (mode == RwMode.DEV) {
              List<String> options = new ArrayList<>(List.of("rw"));
              options.addAll(fs.mountOptions());
              return List.of(new Mount(fs.type(), device, options));
            }
            devices.mount(id, device, fs.type(), fs.mountData(), false);
            return List.of(Mount.bind(mountpoint.toString(), false));
          } catch (AttachException | IOException e) {
            throw new UnavailableException(
                "attach the writable device of snapshot "
                    + id
                    + " ("
                    + r.key()
                    + "): "
                    + e.getMessage(),
                e);
          }
        });
  }

  /** The labels that say the device's filesystem: the image's top layer's, or its own. */
  private Map<String, String> fsLabels(SnapshotRecord r) {
    return store.read(
        view -> BlockLayers.blockTop(view, r).map(SnapshotRecord::labels).orElse(r.labels()));
  }

  /**
   * Commit of writable snapshot {@code r}, first half: unmounts and detaches its device, then seals
   * the writable layer and moves it to {@code fs/overlaybd.sealed}, as upstream's {@code
   * overlaybd-commit --seal} and rename do. Safe to repeat after a crash in between.
   *
   * @throws FailedPreconditionException while its filesystem is still mounted by someone, or when
   *     its layer files are damaged
   * @throws UnavailableException when its device cannot be detached (nothing is sealed then)
   */
  void seal(SnapshotRecord r) {
    long id = r.id();
    devices.locked(
        id,
        "seal the writable layer of snapshot " + id,
        () -> {
          devices.unmount(id, r.key());
          try {
            devices.detach(id);
          } catch (AttachException e) {
            throw new UnavailableException(
                "detach the writable device of " + r.key() + ": " + e.getMessage(), e);
          }
          devices.clearRecordedDevice(id);
          Path data = layout.block(id).resolve(DATA);
          Path index = layout.block(id).resolve(INDEX);
          Path sealed = layout.fs(id).resolve(SEALED);
          try {
            if (Files.exists(data)) {
              WritableLayer.open(data, index).seal();
              Files.move(data, sealed, StandardCopyOption.ATOMIC_MOVE);
            } else if (!Files.exists(sealed)) {
              throw new NotFoundException(
                  "the writable layer of "
                      + r.key()
                      + " is gone: neither "
                      + data
                      + " nor "
                      + sealed);
            }
            Files.deleteIfExists(index);
          } catch (ImageFormatException e) {
            throw new FailedPreconditionException(
                "seal the writable layer of " + r.key() + ": " + e.getMessage(), e);
          } catch (IOException e) {
            throw new UncheckedIOException("seal the writable layer of " + r.key(), e);
          }
          return null;
        });
  }

  /**
   * Unmounts and detaches the device of writable snapshot {@code r} before its removal. Call
   * holding {@code r}'s device lock, and remove the record under it too.
   *
   * @return the pending detach to record with the removal when the detach failed
   * @throws FailedPreconditionException while its filesystem is still in use at its mount point
   */
  Optional<PendingDetach> releaseForRemoval(SnapshotRecord r) {
    devices.unmount(r.id(), r.key());
    return devices.detachOrPending(r.id(), r.device());
  }

  /**
   * Undoes the device of a writable snapshot whose creation failed: unmounts and detaches it, a
   * failed detach becoming pending.
   */
  void releaseAfterFailedCreate(SnapshotRecord r) {
    devices.locked(
        r.id(),
        "release the writable device of snapshot " + r.id(),
        () -> {
          devices.unmount(r.id(), r.key());
          devices.detachOrPending(r.id(), r.device()).ifPresent(devices::recordPending);
          return null;
        });
  }

  /** Disk usage of an active writable snapshot: its {@code fs} and its writable layer. */
  DiskUsage usage(SnapshotRecord r) {
    DiskUsage fs = DiskUsage.measure(layout.fs(r.id()));
    long bytes = fs.bytes();
    long inodes = fs.inodes();
    for (Path p : List.of(DATA, INDEX)) {
      DiskUsage u = DiskUsage.measure(layout.block(r.id()).resolve(p));
      bytes += u.bytes();
      inodes += u.inodes();
    }
    return new DiskUsage(bytes, inodes);
  }

  /**
   * After a restart or reboot: attaches (and in dir mode mounts) every writable device again.
   *
   * @return how many had to be attached or mounted (not those found in place)
   */
  int restoreAll() {
    List<SnapshotRecord> writable =
        store.read(view -> view.all().stream().filter(r -> modeOf(r) != RwMode.OVERLAYFS).toList());
    int done = 0;
    for (SnapshotRecord r : writable) {
      boolean inPlace =
          store.read(view -> view.byId(r.id()).map(c -> !c.device().isEmpty()).orElse(false))
              && (modeOf(r) == RwMode.DEV || devices.isMounted(r.id()));
      try {
        mounts(r, false);
        if (!inPlace) {
          done++;
        }
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "could not attach the writable device of " + r.key() + " again", e);
      }
    }
    return done;
  }
}
