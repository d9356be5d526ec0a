package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
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
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import dev.obd.snapshotter.overlaybd.StorageType;
import dev.obd.snapshotter.snapshots.Info;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.LabelRules;
import dev.obd.snapshotter.snapshots.Mount;
import dev.obd.snapshotter.snapshots.Snapshotter;
import dev.obd.snapshotter.snapshots.Usage;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.ReadView;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
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

  private final RootLock lock;

  /**
   * What OverlayBD layers need: the attacher (made for the snapshots directory), the filesystem of
   * layers without a {@code blob-fs-type} label, the registries reached over plain http, and
   * whether an image's device is released with its last container.
   */
  public record BlockSupport(
      Function<Path, DeviceAttacher> attacher,
      String defaultFsType,
      List<MirrorRegistry> mirrors,
      boolean autoRemoveDev) {}

  OverlaySnapshotter(
      SnapshotLayout layout,
      MetaStore store,
      MountPlanner planner,
      boolean asyncRemove,
      BlockLayers blocks,
      RootLock lock) {
    this.layout = layout;
    this.lock = lock;
    this.blocks = blocks;
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
      BlockLayers blocks =
          new BlockLayers(
              layout,
              store,
              block.attacher().apply(layout.snapshotsDir()),
              new BlockMounter(),
              block.defaultFsType(),
              block.mirrors(),
              block.autoRemoveDev());
      boolean anyBlock =
          store.read(view -> view.all().stream().anyMatch(r -> BlockLayers.storage(r).isBlock()));
      if (anyBlock) {
        Thread reconcile = new Thread(blocks::reconcile, "reconcile-devices");
        reconcile.setDaemon(true);
        reconcile.start();
      }
      return new OverlaySnapshotter(
          layout, store, new MountPlanner(layout, overlayOptions), asyncRemove, blocks, lock);
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
    Map<String, String> stored = storedLabels(labels);
    if (kind == Kind.ACTIVE) {
      Optional<RemoteLayer> remote = RemoteLayer.from(labels);
      if (remote.isPresent()) {
        commitRemoteLayer(key, parent, stored, remote.get());
      }
    }
    SnapshotRecord record =
        store.write(
            tx -> {
              if (tx.get(key).isPresent()) {
                throw new AlreadyExistsException("snapshot " + key);
              }
              Path temp = dirs.createTemp(kind);
              try {
                SnapshotRecord created = tx.create(kind, key, parent, stored);
                List<Long> ancestors = tx.ancestorIds(created);
                if (!ancestors.isEmpty()) {
                  dirs.copyOwner(layout.fs(ancestors.get(0)), temp.resolve("fs"));
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
      return planner.mountsOn(record.id(), kind, blocks.lowerDirs(record));
    } catch (RuntimeException e) {
      // the image's device could not be attached: undo, so that containerd can simply retry
      removeRecordAndDirectory(key);
      throw e;
    }
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
            tx.setStorage(layer.snapshotRef(), StorageType.REMOTE_BLOCK.code(), "");
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
    return planner.mountsOn(found.id(), found.kind(), blocks.lowerDirs(found));
  }

  @Override
  public void commit(String name, String key, Map<String, String> labels, String parent) {
    requireName("name", name);
    Map<String, String> stored = storedLabels(labels);
    long id = store.read(view -> view.require(key).id());
    // Measured outside the transaction: walking a large layer must not stall other writers.
    DiskUsage measured = DiskUsage.measure(layout.fs(id));
    Optional<Path> blockFile = findBlockFile(id);
    store.write(
        tx -> {
          DiskUsage usage = measured;
          long current = tx.require(key).id();
          if (current != id) {
            usage = DiskUsage.measure(layout.fs(current)); // removed and re-prepared meanwhile
          }
          Usage u = new Usage(usage.bytes(), usage.inodes());
          if (current != id || blockFile.isEmpty()) {
            return tx.commitActive(key, name, u, stored, parent);
          }
          // An OverlayBD layer downloaded whole (a pull without labels) or sealed: from now on
          // it is read through a block device, like a remote layer.
          Map<String, String> withPath = new HashMap<>(stored);
          withPath.put(Labels.LOCAL_COMMIT_PATH, blockFile.get().toString());
          SnapshotRecord committed = tx.commitActive(key, name, u, withPath, parent);
          tx.setStorage(name, StorageType.LOCAL_BLOCK.code(), "");
          Optional<SnapshotRecord> parentRecord =
              committed.hasParent() ? tx.byId(committed.parentId()) : Optional.empty();
          try {
            BlockLayers.createBlockDirs(layout.dir(id));
          } catch (IOException e) {
            throw new UncheckedIOException("create block directory of " + name, e);
          }
          tx.onRollback(() -> dirs.deleteQuietly(layout.block(id)));
          BlockLayers.writeConfig(blocks.localConfig(parentRecord, id), layout.config(id));
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
    blocks.releaseForRemoval(record);
    Optional<Long> imageDevice =
        record.kind() == Kind.COMMITTED
            ? Optional.empty()
            : store.read(view -> BlockLayers.blockTop(view, record).map(SnapshotRecord::id));
    List<Path> removals =
        store.write(
            tx -> {
              tx.remove(key);
              return asyncRemove ? List.<Path>of() : dirs.orphans(tx);
            });
    removals.forEach(dirs::deleteQuietly);
    imageDevice.ifPresent(blocks::releaseIfUnused);
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
          return info(tx, tx.setLabels(info.name(), storedLabels(labels)));
        });
  }

  @Override
  public void walk(List<String> filters, Consumer<Info> consumer) {
    Filter filter;
    try {
      filter = Filter.parseAny(filters);
    } catch (FilterSyntaxException e) {
      throw new InvalidArgumentException(e.getMessage(), e);
    }
    List<Info> matched =
        store.read(
            view -> {
              List<Info> out = new ArrayList<>();
              for (SnapshotRecord record : view.all()) {
                Info info = info(view, record);
                if (filter.matches(path -> field(info, path))) {
                  out.add(info);
                }
              }
              return out;
            });
    // Delivered outside the read lock: the consumer may block on a slow client.
    matched.forEach(consumer);
  }

  @Override
  public Usage usage(String key) {
    SnapshotRecord record = store.read(view -> view.require(key));
    if (record.kind() != Kind.ACTIVE) {
      return record.usage();
    }
    DiskUsage du = DiskUsage.measure(layout.fs(record.id()));
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

  @Override
  public void close() {
    try {
      store.close();
    } finally {
      lock.close();
    }
  }

  private static Info info(ReadView view, SnapshotRecord r) {
    return new Info(r.key(), view.parentKey(r), r.kind(), r.labels(), r.created(), r.updated());
  }

  /** The value at a filter field path, as containerd's snapshot filter adaptor defines it. */
  private static String field(Info info, List<String> path) {
    return switch (path.get(0)) {
      case "kind" -> info.kind().filterName();
      case "name" -> info.name();
      case "parent" -> info.parent();
      case "labels" ->
          info.labels().isEmpty()
              ? null
              : info.labels().get(String.join(".", path.subList(1, path.size())));
      default -> null;
    };
  }

  private static void requireName(String what, String value) {
    if (value.isEmpty()) {
      throw new InvalidArgumentException(what + " must not be empty");
    }
  }

  /**
   * Labels as containerd's store keeps them: validated, and without empty values (an empty value
   * means "no such label").
   */
  private static Map<String, String> storedLabels(Map<String, String> labels) {
    LabelRules.validate(labels);
    Map<String, String> kept = new HashMap<>(labels);
    kept.values().removeIf(String::isEmpty);
    return kept;
  }
}
