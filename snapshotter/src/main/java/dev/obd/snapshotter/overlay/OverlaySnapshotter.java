package dev.obd.snapshotter.overlay;

import dev.obd.image.config.ImageConfig;
import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.config.SnapshotterConfig.RemoteAccessCheck;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.device.BlockMounter;
import dev.obd.snapshotter.device.DeviceAttacher;
import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.filters.Filter;
import dev.obd.snapshotter.filters.FilterSyntaxException;
import dev.obd.snapshotter.fs.DiskUsage;
import dev.obd.snapshotter.overlaybd.BlockFiles;
import dev.obd.snapshotter.overlaybd.DefiningLabels;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import dev.obd.snapshotter.overlaybd.TraceDirectory;
import dev.obd.snapshotter.snapshots.Info;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.LabelRules;
import dev.obd.snapshotter.snapshots.Mount;
import dev.obd.snapshotter.snapshots.Snapshotter;
import dev.obd.snapshotter.snapshots.Usage;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.PendingDetach;
import dev.obd.snapshotter.storage.ReadView;
import dev.obd.snapshotter.storage.SnapshotRecord;
import dev.obd.snapshotter.storage.StorageType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Snapshots of image layers and containers: ordinary layers with the behaviour, error kinds and
 * on-disk layout of containerd's overlayfs snapshotter; OverlayBD layers as upstream's
 * overlaybd-snapshotter keeps them (see {@link BlockLayers}), with containers on overlayfs above
 * the image's block device.
 *
 * <p>Metadata changes happen inside {@link MetaStore} write transactions. A new snapshot's
 * directory is built under a temporary name and renamed to its id inside the transaction, so a
 * crash leaves either a committed snapshot with its directory or an orphan directory that no record
 * names. Directories of removed snapshots are deleted after the transaction commits (immediately,
 * or at {@link #cleanup} with {@code asyncRemove}); failures to delete are logged, never reported,
 * because the removal itself already happened.
 *
 * <p>Thread-safe.
 */
public final class OverlaySnapshotter implements Snapshotter {
  private static final Logger LOG = Logger.getLogger(OverlaySnapshotter.class.getName());

  private final SnapshotLayout layout;
  private final MetaStore store;
  private final MountPlanner planner;
  private final boolean asyncRemove;
  private final SnapshotDirectories dirs;
  private final BlockLayers blocks;
  private final WritableDevices writable;
  private final DeviceLifetime devices;
  private final Reconciler reconciler;
  private final LazyLayerCheck lazyCheck;

  private final RootLock lock;

  /** How many snapshots {@link #walk} reads under one lock, at most. */
  static final int WALK_BATCH = 256;

  /** How many bytes of labels {@link #walk} holds in one batch, at most (about). */
  static final long WALK_BATCH_LABEL_BYTES = 1 << 20;

  /**
   * What OverlayBD layers need: the attacher (made for the snapshots directory), the filesystem of
   * layers without a {@code blob-fs-type} label, the directory record-trace files must be in, the
   * registries reached over plain http, and whether an image's device is released with its last
   * container, the default writable mode of containers on OverlayBD images, what a lazy layer whose
   * blob the attacher's data plane cannot read does at its Prepare, and whether containers'
   * writable layers are sparse ({@code writableLayerType: sparse}) rather than append-only.
   */
  public record BlockSupport(
      Function<Path, DeviceAttacher> attacher,
      String defaultFsType,
      Path recordTraceDir,
      List<MirrorRegistry> mirrors,
      boolean autoRemoveDev,
      RwMode rwMode,
      RemoteAccessCheck remoteAccessCheck,
      boolean sparseWritableLayers) {

    /**
     * With the default {@code remoteAccessCheck}, {@code fail}, and append-only writable layers.
     */
    public BlockSupport(
        Function<Path, DeviceAttacher> attacher,
        String defaultFsType,
        Path recordTraceDir,
        List<MirrorRegistry> mirrors,
        boolean autoRemoveDev,
        RwMode rwMode) {
      this(
          attacher,
          defaultFsType,
          recordTraceDir,
          mirrors,
          autoRemoveDev,
          rwMode,
          RemoteAccessCheck.FAIL,
          false);
    }

    /**
     * For a snapshotter that attaches no devices (the warm-up's scratch snapshotter, tests): every
     * attach fails with {@code why}; ext4 by default, containers on overlayfs.
     */
    public static BlockSupport withoutDevices(
        String why, Path recordTraceDir, List<MirrorRegistry> mirrors) {
      return new BlockSupport(
          snapshotsDir -> DeviceAttacher.none(why),
          "ext4",
          recordTraceDir,
          mirrors,
          false,
          RwMode.OVERLAYFS);
    }
  }

  OverlaySnapshotter(
      SnapshotLayout layout,
      MetaStore store,
      MountPlanner planner,
      boolean asyncRemove,
      BlockLayers blocks,
      WritableDevices writable,
      DeviceLifetime devices,
      Reconciler reconciler,
      LazyLayerCheck lazyCheck,
      RootLock lock) {
    this.layout = layout;
    this.lazyCheck = lazyCheck;
    this.lock = lock;
    this.blocks = blocks;
    this.writable = writable;
    this.devices = devices;
    this.reconciler = reconciler;
    this.store = store;
    this.planner = planner;
    this.asyncRemove = asyncRemove;
    this.dirs = new SnapshotDirectories(layout);
  }

  /**
   * Opens the snapshotter at {@code root}: creates the directories (mode 0700), takes the root's
   * lock so that no second daemon uses it, opens the metadata, and removes temporary directories a
   * crash left behind.
   *
   * @param overlayOptions options every overlay mount carries, see {@link OverlayFeatures}
   */
  public static OverlaySnapshotter open(
      Path root, boolean asyncRemove, List<String> overlayOptions, BlockSupport block)
      throws IOException {
    SnapshotDirectories.createPrivateDirectory(root);
    SnapshotLayout layout = new SnapshotLayout(root.toRealPath());
    SnapshotDirectories.createPrivateDirectory(layout.snapshotsDir());
    SnapshotDirectories dirs = new SnapshotDirectories(layout);
    RootLock lock = RootLock.acquire(layout.root());
    try {
      MetaStore store = MetaStore.open(layout.metadataFile());
      store.reserveIdsThrough(dirs.removeTempDirsAndFindHighestId());
      DeviceAttacher attacher = block.attacher().apply(layout.snapshotsDir());
      DeviceLifetime devices = new DeviceLifetime(layout, store, attacher, new BlockMounter());
      BlockLayers blocks =
          new BlockLayers(
              layout,
              store,
              devices,
              block.defaultFsType(),
              TraceDirectory.open(block.recordTraceDir()),
              block.mirrors(),
              block.autoRemoveDev());
      WritableDevices writable =
          new WritableDevices(
              layout, store, blocks, devices, block.rwMode(), block.sparseWritableLayers());
      Reconciler reconciler = new Reconciler(store, devices, blocks, writable);
      OverlaySnapshotter snapshotter =
          new OverlaySnapshotter(
              layout,
              store,
              new MountPlanner(layout, overlayOptions),
              asyncRemove,
              blocks,
              writable,
              devices,
              reconciler,
              new LazyLayerCheck(block.remoteAccessCheck(), attacher, LazyLayerCheck.DEADLINE),
              lock);
      reconciler.start();
      return snapshotter;
    } catch (IOException | RuntimeException e) {
      lock.close();
      throw e;
    }
  }

  @Override
  public List<Mount> prepare(String key, String parent, Map<String, String> labels) {
    return create(Kind.ACTIVE, key, parent, labels);
  }

  @Override
  public List<Mount> view(String key, String parent, Map<String, String> labels) {
    return create(Kind.VIEW, key, parent, labels);
  }

  private List<Mount> create(Kind kind, String key, String parent, Map<String, String> labels) {
    requireName("key", key);
    PrepareLabels prepared = PrepareLabels.parse(kind, key, labels);
    if (prepared.remote().isPresent() && staysLazy(key, prepared.remote().get())) {
      commitRemoteLayer(key, parent, prepared.stored(), prepared.remote().get());
    }
    if (!prepared.purpose().unpacksLayer() && !parent.isEmpty()) {
      blocks.applyPrefetchLabels(parent, prepared);
    }
    SnapshotRecord record =
        store.write(
            tx -> {
              if (tx.get(key).isPresent()) {
                throw new AlreadyExistsException("snapshot " + key);
              }
              Optional<SnapshotRecord> parentRecord =
                  parent.isEmpty() ? Optional.empty() : tx.get(parent);
              RwMode mode = writable.modeOf(prepared, parentRecord);
              Path temp = dirs.createTemp(kind);
              try {
                SnapshotRecord created =
                    tx.create(
                        kind, key, parent, WritableDevices.labelsFor(mode, prepared.stored()));
                List<Long> ancestors = tx.ancestorIds(created);
                if (!ancestors.isEmpty()) {
                  dirs.copyOwner(layout.fs(ancestors.get(0)), temp.resolve("fs"));
                }
                if (mode != RwMode.OVERLAYFS) {
                  writable.createFiles(temp, created, parentRecord, prepared);
                  created = tx.setStorage(key, StorageType.LOCAL_BLOCK, "");
                }
                Path dir = layout.dir(created.id());
                Files.move(temp, dir, StandardCopyOption.ATOMIC_MOVE);
                tx.onRollback(() -> dirs.deleteQuietly(dir));
                return created;
              } catch (IOException e) {
                dirs.deleteQuietly(temp);
                throw new UncheckedIOException("create directory of snapshot " + key, e);
              } catch (RuntimeException e) {
                dirs.deleteQuietly(temp);
                throw e;
              }
            });
    try {
      return mountsOf(record, true);
    } catch (RuntimeException e) {
      // the device could not be attached: undo, so that containerd can simply retry
      if (WritableDevices.modeOf(record) != RwMode.OVERLAYFS) {
        releaseQuietly(record);
      }
      removeRecordAndDirectory(key);
      throw e;
    }
  }

  /**
   * The mounts of active snapshot or view {@code r}: its own writable device; a layer being
   * unpacked on the plain {@code fs} directories below it (no device: what is unpacked into it does
   * not need the content below, see {@link LayerExtraction}); an acceleration layer on nothing
   * (only its trace file is unpacked); anything else on the directories below it, an image's
   * device's mount point standing for its block layers.
   *
   * @param created whether {@code r} was just created (a new parentless writable device is
   *     formatted then, and only then)
   */
  private List<Mount> mountsOf(SnapshotRecord r, boolean created) {
    if (WritableDevices.modeOf(r) != RwMode.OVERLAYFS) {
      return writable.mounts(r, created);
    }
    if (LayerExtraction.recognises(r)) {
      if ("yes".equals(r.labels().get(Labels.ACCELERATION_LAYER))) {
        return planner.mountsOn(r.id(), r.kind(), List.of());
      }
      List<Long> ancestors = store.read(view -> view.ancestorIds(r));
      return planner.mounts(r.id(), r.kind(), ancestors);
    }
    return planner.mountsOn(r.id(), r.kind(), blocks.lowerDirs(r));
  }

  private void releaseQuietly(SnapshotRecord record) {
    try {
      writable.releaseAfterFailedCreate(record);
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not release the writable device of " + record.key(), e);
    }
  }

  /**
   * Whether remote layer {@code layer} is recorded and answered ALREADY_EXISTS (a layer recorded
   * already always is), or, when the attacher's data plane cannot read its blob and {@code
   * remoteAccessCheck} is {@code download}, prepared as an ordinary layer for containerd to
   * download and unpack (its commit then finds the OverlayBD layer file and makes it a local block
   * layer).
   *
   * @throws FailedPreconditionException when the blob cannot be read and {@code remoteAccessCheck}
   *     is {@code fail}
   */
  private boolean staysLazy(String key, RemoteLayer layer) {
    if (store.read(view -> view.get(layer.snapshotRef()).isPresent())) {
      return true;
    }
    return lazyCheck.staysLazy(key, layer, blocks.repoBlobUrl(layer));
  }

  /**
   * The pull path of an OverlayBD layer in the registry: records it as committed under its chain
   * id, with the Prepare's labels and exactly the parent given, writes its config.v1.json, and
   * answers ALREADY_EXISTS, which tells containerd to skip downloading and unpacking the layer
   * (containerd's remote-snapshotter protocol; this is the expected outcome, not a failure).
   */
  private void commitRemoteLayer(
      String key, String parent, Map<String, String> stored, RemoteLayer layer) {
    store.write(
        tx -> {
          if (tx.get(layer.snapshotRef()).isPresent()) {
            return null; // an earlier pull of the same layer
          }
          Path temp = dirs.createTemp(Kind.VIEW);
          try {
            BlockLayers.createBlockDirs(temp);
            SnapshotRecord active = tx.create(Kind.ACTIVE, key, parent, stored);
            Map<String, String> committed = new HashMap<>(stored);
            committed.put(Labels.REMOTE, Labels.REMOTE_VALUE);
            tx.commitActive(key, layer.snapshotRef(), Usage.ZERO, committed, "");
            tx.setStorage(layer.snapshotRef(), StorageType.REMOTE_BLOCK, "");
            Optional<SnapshotRecord> parentRecord =
                parent.isEmpty() ? Optional.empty() : tx.get(parent);
            BlockLayers.writeConfig(
                blocks.remoteConfig(parentRecord, layer, active.id()),
                temp.resolve("block").resolve("config.v1.json"));
            Path dir = layout.dir(active.id());
            Files.move(temp, dir, StandardCopyOption.ATOMIC_MOVE);
            tx.onRollback(() -> dirs.deleteQuietly(dir));
            return null;
          } catch (IOException e) {
            dirs.deleteQuietly(temp);
            throw new UncheckedIOException("create remote snapshot " + layer.snapshotRef(), e);
          } catch (RuntimeException e) {
            dirs.deleteQuietly(temp);
            throw e;
          }
        });
    throw new AlreadyExistsException("target snapshot \"" + layer.snapshotRef() + "\"");
  }

  private void removeRecordAndDirectory(String key) {
    try {
      SnapshotRecord r = store.write(tx -> tx.remove(key));
      dirs.deleteQuietly(layout.dir(r.id()));
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "could not undo the creation of snapshot " + key, e);
    }
  }

  @Override
  public List<Mount> mounts(String key) {
    SnapshotRecord found =
        store.read(
            view -> {
              SnapshotRecord record = view.require(key);
              if (record.kind() == Kind.COMMITTED) {
                throw new FailedPreconditionException(
                    "requested snapshot " + key + " not active or view");
              }
              return record;
            });
    return mountsOf(found, false);
  }

  @Override
  public void commit(String name, String key, Map<String, String> labels, String parent) {
    requireName("name", name);
    Map<String, String> stored = PrepareLabels.storable(labels);
    SnapshotRecord active = store.read(view -> view.require(key));
    long id = active.id();
    if (WritableDevices.modeOf(active) != RwMode.OVERLAYFS) {
      if (store.read(view -> view.get(name).isPresent())) {
        throw new AlreadyExistsException("committed snapshot " + name);
      }
      writable.seal(active); // now fs/overlaybd.sealed: committed below as a local block layer
    }
    boolean accelerationLayer =
        "yes".equals(active.labels().get(Labels.ACCELERATION_LAYER))
            && store
                .read(
                    view ->
                        BlockLayers.blockTop(view, active).map(t -> t.id() == active.parentId()))
                .orElse(false);
    // Measured outside the transaction: walking a large layer must not stall other writers.
    DiskUsage measured = DiskUsage.measure(layout.fs(id));
    Optional<Path> blockFile = accelerationLayer ? Optional.empty() : findBlockFile(id);
    store.write(
        tx -> {
          DiskUsage usage = measured;
          long current = tx.require(key).id();
          if (current != id) {
            usage = DiskUsage.measure(layout.fs(current)); // removed and re-prepared meanwhile
          }
          Usage u = new Usage(usage.bytes(), usage.inodes());
          if (current != id || (blockFile.isEmpty() && !accelerationLayer)) {
            return tx.commitActive(key, name, u, stored, parent);
          }
          // An OverlayBD layer downloaded whole (a pull without labels), sealed, or the trace of
          // an acceleration layer: from now on it is read through a block device, like a remote
          // layer.
          Map<String, String> committedLabels = new HashMap<>(stored);
          committedLabels.remove(Labels.WRITABLE);
          blockFile.ifPresent(f -> committedLabels.put(Labels.LOCAL_COMMIT_PATH, f.toString()));
          if (accelerationLayer) {
            committedLabels.put(Labels.ACCELERATION_LAYER, "yes");
          }
          SnapshotRecord committed = tx.commitActive(key, name, u, committedLabels, parent);
          tx.setStorage(name, StorageType.LOCAL_BLOCK, "");
          Optional<SnapshotRecord> parentRecord =
              committed.hasParent() ? tx.byId(committed.parentId()) : Optional.empty();
          boolean hadBlockDir = Files.isDirectory(layout.block(id));
          try {
            BlockLayers.createBlockDirs(layout.dir(id));
          } catch (IOException e) {
            throw new UncheckedIOException("create block directory of " + name, e);
          }
          if (!hadBlockDir) {
            tx.onRollback(() -> dirs.deleteQuietly(layout.block(id)));
          }
          ImageConfig config = blocks.localConfig(parentRecord, id);
          if (accelerationLayer) {
            config = config.withPrefetch(true, "");
          }
          BlockLayers.writeConfig(config, layout.config(id));
          return committed;
        });
  }

  private Optional<Path> findBlockFile(long id) {
    try {
      return BlockFiles.find(layout.fs(id));
    } catch (IOException e) {
      throw new UncheckedIOException("look for an OverlayBD layer in " + layout.fs(id), e);
    }
  }

  @Override
  public void remove(String key) {
    SnapshotRecord record = store.read(view -> view.require(key));
    if (store.read(view -> view.hasChildren(record.id()))) {
      throw new FailedPreconditionException("cannot remove snapshot with child");
    }
    boolean writableDevice = WritableDevices.modeOf(record) != RwMode.OVERLAYFS;
    Optional<Long> imageDevice =
        record.kind() == Kind.COMMITTED
            ? Optional.empty()
            : store.read(view -> BlockLayers.blockTop(view, record).map(SnapshotRecord::id));
    List<Path> removals;
    if (writableDevice || record.storageType().isBlock()) {
      // The device goes first, then the record, under the device's lock: no call can attach it
      // again in between. A device whose detach fails stays on the pending list, with the record's
      // removal in one transaction, and is retried until it goes.
      removals =
          devices.locked(
              record.id(),
              "remove snapshot " + key,
              () -> {
                Optional<PendingDetach> pending =
                    writableDevice
                        ? writable.releaseForRemoval(record)
                        : blocks.releaseForRemoval(record);
                List<Path> dirs = removeRecord(record, pending);
                pending.ifPresent(p -> devices.pendingRecorded());
                return dirs;
              });
    } else {
      removals = removeRecord(record, Optional.empty());
    }
    removals.forEach(dirs::deleteQuietly);
    imageDevice.ifPresent(blocks::releaseIfUnused);
  }

  /**
   * Removes {@code record} (and records {@code pending}) in one transaction and returns the
   * directory to delete once it has committed: the removed snapshot's own, or none with {@code
   * asyncRemove}. Upstream sweeps every directory no record names here, which costs a listing of
   * {@code snapshots/} per call; what a crash or an earlier failed deletion left is Cleanup's
   * (which containerd calls after each garbage collection), and {@code new-*} leftovers go at
   * start.
   */
  private List<Path> removeRecord(SnapshotRecord record, Optional<PendingDetach> pending) {
    store.write(
        tx -> {
          tx.remove(record.key());
          pending.ifPresent(tx::putPendingDetach);
          return null;
        });
    return asyncRemove ? List.of() : List.of(layout.dir(record.id()));
  }

  @Override
  public Info stat(String key) {
    return store.read(view -> info(view, view.require(key)));
  }

  @Override
  public Info update(Info info, List<String> fieldPaths) {
    requireName("name", info.name());
    LabelRules.validate(info.labels());
    return store.write(
        tx -> {
          SnapshotRecord record =
              tx.get(info.name())
                  .orElseThrow(() -> new NotFoundException("snapshot " + info.name()));
          Map<String, String> labels;
          if (fieldPaths.isEmpty()) {
            labels = info.labels();
          } else {
            labels = new HashMap<>(record.labels());
            for (String path : fieldPaths) {
              if (path.startsWith("labels.")) {
                String label = path.substring("labels.".length());
                labels.put(label, info.labels().getOrDefault(label, ""));
              } else if (path.equals("labels")) {
                labels = new HashMap<>(info.labels());
              } else {
                throw new InvalidArgumentException(
                    "cannot update \"" + path + "\" field on snapshot \"" + info.name() + "\"");
              }
            }
          }
          Map<String, String> stored = PrepareLabels.storable(labels);
          if (record.storageType().isBlock()) {
            DefiningLabels.requireUnchanged(info.name(), record.labels(), stored);
          }
          return info(tx, tx.setLabels(info.name(), stored));
        });
  }

  @Override
  public Iterator<List<Info>> walk(List<String> filters) {
    Filter filter;
    try {
      filter = Filter.parseAny(filters);
    } catch (FilterSyntaxException e) {
      throw new InvalidArgumentException(e.getMessage(), e);
    }
    long[] ids = store.read(ReadView::ids);
    return new Iterator<>() {
      private int next;
      private List<Info> ahead;

      @Override
      public boolean hasNext() {
        while (ahead == null && next < ids.length) {
          List<Info> batch = readBatch();
          if (!batch.isEmpty()) {
            ahead = batch;
          }
        }
        return ahead != null;
      }

      @Override
      public List<Info> next() {
        if (!hasNext()) {
          throw new java.util.NoSuchElementException();
        }
        List<Info> batch = ahead;
        ahead = null;
        return batch;
      }

      /** Reads from {@code next} on, under the lock, at most one batch's worth. */
      private List<Info> readBatch() {
        return store.read(
            view -> {
              List<Info> out = new ArrayList<>();
              long labelBytes = 0;
              while (next < ids.length
                  && out.size() < WALK_BATCH
                  && labelBytes < WALK_BATCH_LABEL_BYTES) {
                Optional<SnapshotRecord> record = view.byId(ids[next++]);
                if (record.isPresent() && filter.matches(path -> field(view, record.get(), path))) {
                  Info info = info(view, record.get());
                  out.add(info);
                  labelBytes += labelBytes(info.labels());
                }
              }
              return out;
            });
      }
    };
  }

  private static long labelBytes(Map<String, String> labels) {
    long n = 0;
    for (Map.Entry<String, String> e : labels.entrySet()) {
      n += e.getKey().length() + e.getValue().length();
    }
    return n;
  }

  @Override
  public Usage usage(String key) {
    SnapshotRecord record = store.read(view -> view.require(key));
    if (record.kind() != Kind.ACTIVE) {
      return record.usage();
    }
    DiskUsage du =
        WritableDevices.modeOf(record) != RwMode.OVERLAYFS
            ? writable.usage(record)
            : DiskUsage.measure(layout.fs(record.id()));
    return new Usage(du.bytes(), du.inodes());
  }

  @Override
  public Map<Kind, Long> countByKind() {
    return store.read(
        view -> {
          Map<Kind, Long> counts = new java.util.EnumMap<>(Kind.class);
          view.all().forEach(r -> counts.merge(r.kind(), 1L, Long::sum));
          return counts;
        });
  }

  @Override
  public void cleanup() {
    List<Path> orphans = store.write(dirs::orphans);
    orphans.forEach(dirs::deleteQuietly);
  }

  /**
   * Whether the start-up reconciliation of OverlayBD devices with the attacher has done its pass
   * (it waits for the attacher to answer; see {@link Reconciler}).
   */
  public boolean devicesReconciled() {
    return reconciler.reconciled();
  }

  @Override
  public void close() {
    try {
      reconciler.close();
    } finally {
      try {
        store.close();
      } finally {
        lock.close();
      }
    }
  }

  private static Info info(ReadView view, SnapshotRecord r) {
    return new Info(r.key(), view.parentKey(r), r.kind(), r.labels(), r.created(), r.updated());
  }

  /** The value at a filter field path, as containerd's snapshot filter adaptor defines it. */
  private static String field(ReadView view, SnapshotRecord r, List<String> path) {
    return switch (path.get(0)) {
      case "kind" -> r.kind().filterName();
      case "name" -> r.key();
      case "parent" -> view.parentKey(r);
      case "labels" -> r.labels().get(String.join(".", path.subList(1, path.size())));
      default -> null;
    };
  }

  private static void requireName(String what, String value) {
    if (value.isEmpty()) {
      throw new InvalidArgumentException(what + " must not be empty");
    }
  }
}
