package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.device.AttachedDevice;
import dev.obd.snapshotter.device.BlockMounter;
import dev.obd.snapshotter.device.DeviceAttacher;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.PendingDetach;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongPredicate;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one owner of the lifetime of OverlayBD block devices, the shared read-only device of an
 * image's top layer and a container's own writable device alike: it attaches them, records which
 * device is attached for which snapshot, mounts and unmounts their filesystems, and detaches them.
 * All of it happens under the snapshot's lock ({@link #locked}), which RPCs and reconciliation
 * share, so one device is worked on by one caller at a time.
 *
 * <p>A device whose detach fails (typically: its filesystem is still mounted in another mount
 * namespace, where a process that unshared its mounts keeps it) is never forgotten: it becomes a
 * {@link PendingDetach}, persisted, and {@link Reconciler} retries it with a backoff and at every
 * start until the detach succeeds or the attacher no longer has the device.
 *
 * <p>Thread-safe.
 */
final class DeviceLifetime {
  private static final Logger LOG = Logger.getLogger(DeviceLifetime.class.getName());
  static final Duration ATTACH_DEADLINE = Duration.ofSeconds(120);
  static final Duration DETACH_DEADLINE = Duration.ofSeconds(30);
  static final Duration LIST_DEADLINE = Duration.ofSeconds(30);

  /** Longer than an attach may take, so that a caller queued behind one sees its outcome. */
  private static final Duration LOCK_WAIT = ATTACH_DEADLINE.plusSeconds(30);

  private final SnapshotLayout layout;
  private final MetaStore store;
  private final DeviceAttacher attacher;
  private final BlockMounter mounter;
  private final KeyedLocks locks = new KeyedLocks(LOCK_WAIT);
  private volatile Runnable onPending = () -> {};

  DeviceLifetime(
      SnapshotLayout layout, MetaStore store, DeviceAttacher attacher, BlockMounter mounter) {
    this.layout = layout;
    this.store = store;
    this.attacher = attacher;
    this.mounter = mounter;
  }

  /** {@code tcmu} or {@code nbd}, for log lines. */
  String attacherName() {
    return attacher.name();
  }

  /** Called whenever a new pending detach is recorded (the reconciler wakes up for it). */
  void onPendingDetach(Runnable action) {
    this.onPending = action;
  }

  /**
   * Runs {@code body} holding the lock of snapshot {@code id}'s device; {@code what} names the work
   * in the error of a caller that could not get the lock in time.
   */
  <T> T locked(long id, String what, KeyedLocks.Body<T> body) {
    return locks.with(id, what, body);
  }

  /**
   * Attaches the device of snapshot {@code r} as its config.v1.json describes it (or finds it
   * attached already), and records it: in the snapshot's record and in its {@code block/backstore}
   * mark. A pending detach of that device is void from now on. Call holding {@code r}'s lock.
   */
  String attach(SnapshotRecord r) throws AttachException, IOException {
    long id = r.id();
    String device = attacher.attach(id, layout.config(id), ATTACH_DEADLINE);
    Files.writeString(layout.backstoreMark(id), device);
    store.write(
        tx -> {
          tx.byId(id).ifPresent(cur -> tx.setStorage(cur.key(), cur.storageType(), device));
          tx.removePendingDetach(id);
          return null;
        });
    return device;
  }

  /**
   * The device attached for snapshot {@code r} now: the one its record names, if the attacher still
   * has it and it is healthy; else empty.
   */
  Optional<String> current(SnapshotRecord r) throws AttachException {
    String recorded = store.read(view -> view.byId(r.id()).map(SnapshotRecord::device).orElse(""));
    if (recorded.isEmpty()) {
      return Optional.empty();
    }
    AttachedDevice a = attacher.attached(LIST_DEADLINE).get(r.id());
    return a != null && a.healthy() && a.device().equals(recorded)
        ? Optional.of(recorded)
        : Optional.empty();
  }

  /** Everything the attacher has attached for this snapshotter, by snapshot id. */
  Map<Long, AttachedDevice> attached() throws AttachException {
    return attacher.attached(LIST_DEADLINE);
  }

  boolean isMounted(long id) {
    return mounter.isMounted(layout.mountpoint(id));
  }

  /** The filesystem type on {@code device}: erofs when its superblock says so, else {@code fs}. */
  String detectFsType(String device, String declared) throws IOException {
    return mounter.detectFsType(device, declared);
  }

  /** Mounts {@code device} at snapshot {@code id}'s mount point unless something is there. */
  void mount(long id, String device, String fsType, String options, boolean readOnly)
      throws AttachException {
    mounter.mount(device, layout.mountpoint(id), fsType, options, readOnly);
  }

  /**
   * Unmounts snapshot {@code id}'s mount point if mounted.
   *
   * @throws FailedPreconditionException while the filesystem is in use there (nothing changed)
   */
  void unmount(long id, String key) {
    try {
      mounter.unmount(layout.mountpoint(id));
    } catch (AttachException e) {
      throw new FailedPreconditionException(
          "snapshot " + key + " still has its mountpoint in use: " + e.getMessage(), e);
    }
  }

  /**
   * Lazily detaches whatever is mounted at snapshot {@code id}'s mount point: for a device that is
   * gone, whose dead mount would otherwise stay.
   */
  void detachMountLazily(long id) {
    Path mountpoint = layout.mountpoint(id);
    if (mounter.isMounted(mountpoint)) {
      mounter.detachLazily(mountpoint);
    }
  }

  /** Whether a device may be attached for snapshot {@code id}: recorded, or marked on disk. */
  boolean mayBeAttached(SnapshotRecord r) {
    return !r.device().isEmpty() || Files.exists(layout.backstoreMark(r.id()));
  }

  /**
   * Detaches the device of snapshot {@code id}. When that fails, returns the pending detach that
   * remembers it, which the caller records (with the snapshot's removal, in one transaction, or
   * through {@link #recordPending}).
   */
  Optional<PendingDetach> detachOrPending(long id, String device) {
    try {
      attacher.detach(id, layout.config(id), DETACH_DEADLINE);
      return Optional.empty();
    } catch (AttachException e) {
      LOG.log(
          Level.WARNING,
          "could not detach the device "
              + (device.isEmpty() ? "" : device + " ")
              + "of snapshot "
              + id
              + "; retrying it until it goes",
          e);
      return Optional.of(
          new PendingDetach(
              id, layout.config(id).toString(), device, Instant.now(), 1, e.getMessage()));
    }
  }

  /** Detaches the device of snapshot {@code id}, or throws why it cannot. */
  void detach(long id) throws AttachException {
    attacher.detach(id, layout.config(id), DETACH_DEADLINE);
  }

  /** Persists {@code pending} and wakes the retries. */
  void recordPending(PendingDetach pending) {
    store.write(
        tx -> {
          tx.putPendingDetach(pending);
          return null;
        });
    pendingRecorded();
  }

  /** Wakes the retries after a pending detach was recorded by the caller's transaction. */
  void pendingRecorded() {
    onPending.run();
  }

  /**
   * Tries every pending detach once, each under its snapshot's lock. A device that is {@code
   * wanted} again (its snapshot exists and containers use it) is no longer pending; one the
   * attacher reports gone is done.
   *
   * @return how many are still pending
   */
  int retryPending(LongPredicate wanted) {
    List<PendingDetach> pending = store.read(view -> List.copyOf(view.pendingDetaches()));
    int remaining = 0;
    for (PendingDetach p : pending) {
      boolean done =
          locked(
              p.id(),
              "retry the detach of snapshot " + p.id() + "'s device",
              () -> {
                if (store.read(view -> view.pendingDetach(p.id())).isEmpty()) {
                  return true; // attached again meanwhile
                }
                if (wanted.test(p.id())) {
                  forgetPending(p.id());
                  return true;
                }
                try {
                  attacher.detach(p.id(), Path.of(p.config()), DETACH_DEADLINE);
                  forgetPending(p.id());
                  clearRecordedDevice(p.id());
                  LOG.info(
                      "detached the device "
                          + p.device()
                          + " of snapshot "
                          + p.id()
                          + " after "
                          + p.attempts()
                          + " failed attempt(s) since "
                          + p.since());
                  return true;
                } catch (AttachException e) {
                  store.write(
                      tx -> {
                        tx.putPendingDetach(p.failedAgain(e.getMessage()));
                        return null;
                      });
                  LOG.fine("detach of snapshot " + p.id() + "'s device still fails: " + e);
                  return false;
                }
              });
      if (!done) {
        remaining++;
      }
    }
    return remaining;
  }

  /** Forgets the pending detach of {@code id}. */
  void forgetPending(long id) {
    store.write(
        tx -> {
          tx.removePendingDetach(id);
          return null;
        });
  }

  /** Records that no device is attached for snapshot {@code id}, if it still exists. */
  void clearRecordedDevice(long id) {
    store.write(
        tx ->
            tx.byId(id)
                .filter(r -> !r.device().isEmpty())
                .map(r -> tx.setStorage(r.key(), r.storageType(), "")));
    try {
      Files.deleteIfExists(layout.backstoreMark(id));
    } catch (IOException e) {
      LOG.log(Level.WARNING, "could not remove " + layout.backstoreMark(id), e);
    }
  }
}
