package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.device.AttachedDevice;
import dev.obd.snapshotter.storage.MetaStore;
import dev.obd.snapshotter.storage.SnapshotRecord;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Brings the kernel and the device attacher in line with the metadata, in the background, for as
 * long as the snapshotter is open. It is started by {@link OverlaySnapshotter#open} whether or not
 * any OverlayBD layer exists, and stopped (and joined) by its close.
 *
 * <p>First, once the attacher answers (obd-backstore may start after us or still be recovering, so
 * this is retried with a backoff until it does): devices no snapshot owns are detached (a failure
 * makes them pending), device records whose device is gone or broken are cleared (a dead mount is
 * detached lazily), and the devices that containers use are attached and mounted again, as after a
 * reboot. Then, for as long as any detach is pending, each is retried with a backoff (1 s doubling
 * to 1 min), starting over whenever a new one is recorded.
 *
 * <p>Every piece of work on a device takes that device's lock, the one RPCs take; what fails here
 * is logged and done again when a container needs it.
 */
final class Reconciler implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(Reconciler.class.getName());
  private static final Duration FIRST_RETRY = Duration.ofMillis(200);
  private static final Duration MAX_ATTACHER_RETRY = Duration.ofSeconds(15);
  private static final Duration FIRST_PENDING_RETRY = Duration.ofSeconds(1);
  private static final Duration MAX_PENDING_RETRY = Duration.ofMinutes(1);
  private static final Duration STOP_DEADLINE = Duration.ofSeconds(10);

  private final MetaStore store;
  private final DeviceLifetime devices;
  private final BlockLayers blocks;
  private final WritableDevices writable;
  private final Thread thread;
  private final Object wake = new Object();
  private boolean woken; // guarded by wake
  private volatile boolean closed;
  private volatile boolean reconciled;

  Reconciler(
      MetaStore store, DeviceLifetime devices, BlockLayers blocks, WritableDevices writable) {
    this.store = store;
    this.devices = devices;
    this.blocks = blocks;
    this.writable = writable;
    this.thread = new Thread(this::run, "reconcile-devices");
    this.thread.setDaemon(true);
    devices.onPendingDetach(this::wake);
  }

  void start() {
    thread.start();
  }

  /** Whether the start-up reconciliation has completed (for tests and metrics). */
  boolean reconciled() {
    return reconciled;
  }

  /** Makes the retries of pending detaches start over now. */
  void wake() {
    synchronized (wake) {
      woken = true;
      wake.notifyAll();
    }
  }

  private void run() {
    Duration attacherRetry = FIRST_RETRY;
    boolean told = false;
    while (!closed && !reconciled) {
      try {
        reconcileOnce();
        reconciled = true;
      } catch (AttachException e) {
        if (!told) {
          LOG.info(
              "cannot reconcile OverlayBD devices yet ("
                  + e.getMessage()
                  + "); retrying until the "
                  + devices.attacherName()
                  + " attacher answers");
          told = true;
        } else {
          LOG.fine("reconciliation still waits for the attacher: " + e.getMessage());
        }
        if (!pause(attacherRetry)) {
          return;
        }
        attacherRetry = min(attacherRetry.multipliedBy(2), MAX_ATTACHER_RETRY);
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "reconciliation failed; trying again", e);
        if (!pause(MAX_ATTACHER_RETRY)) {
          return;
        }
      }
    }
    if (told) {
      LOG.info("the " + devices.attacherName() + " attacher answers; devices reconciled");
    }
    Duration pendingRetry = FIRST_PENDING_RETRY;
    while (!closed) {
      int remaining;
      try {
        remaining = devices.retryPending(this::wanted);
      } catch (RuntimeException e) {
        if (closed) {
          return;
        }
        LOG.log(Level.WARNING, "retrying pending detaches failed", e);
        remaining = 1;
      }
      if (remaining == 0) {
        pendingRetry = FIRST_PENDING_RETRY;
        if (!pause(null)) {
          return;
        }
      } else if (pause(pendingRetry)) {
        pendingRetry = min(pendingRetry.multipliedBy(2), MAX_PENDING_RETRY);
      } else {
        return;
      }
    }
  }

  /**
   * Waits for {@code d} (for ever when null) or until woken; returns false once closed. Being woken
   * restarts the pending backoff, which the caller sees as a wait that ended early.
   */
  private boolean pause(Duration d) {
    synchronized (wake) {
      long end = d == null ? Long.MAX_VALUE : System.nanoTime() + d.toNanos();
      while (!woken && !closed) {
        long left = end - System.nanoTime();
        if (left <= 0) {
          break;
        }
        try {
          wake.wait(d == null ? 0 : Math.max(1, left / 1_000_000));
        } catch (InterruptedException e) {
          return false;
        }
      }
      woken = false;
      return !closed;
    }
  }

  /** One full pass against what the attacher reports now. */
  void reconcileOnce() throws AttachException {
    Map<Long, AttachedDevice> attached = devices.attached();
    int detached = 0;
    int cleared = 0;
    int restored = 0;
    for (Map.Entry<Long, AttachedDevice> a : attached.entrySet()) {
      long id = a.getKey();
      AttachedDevice device = a.getValue();
      int[] outcome = {0, 0};
      devices.locked(
          id,
          "reconcile the device of snapshot " + id,
          () -> {
            SnapshotRecord owner =
                store
                    .read(view -> view.byId(id))
                    .filter(r -> r.storageType().isBlock())
                    .orElse(null);
            if (owner == null) {
              // orphaned: its snapshot went while we were not running, or its detach failed
              devices
                  .detachOrPending(id, device.device())
                  .ifPresentOrElse(devices::recordPending, () -> devices.forgetPending(id));
              outcome[0]++;
            } else if (!device.healthy()) {
              LOG.warning(
                  "the device of snapshot "
                      + owner.key()
                      + " is broken ("
                      + device.problem()
                      + "); attaching it again");
              devices.detachMountLazily(id);
              devices.clearRecordedDevice(id);
              devices.detachOrPending(id, device.device()).ifPresent(devices::recordPending);
              outcome[1]++;
            }
            return null;
          });
      detached += outcome[0];
      cleared += outcome[1];
    }
    Set<Long> present = attached.keySet();
    List<SnapshotRecord> stale =
        store.read(
            view ->
                view.all().stream()
                    .filter(r -> !r.device().isEmpty() && !present.contains(r.id()))
                    .toList());
    for (SnapshotRecord r : stale) {
      devices.locked(
          r.id(),
          "clear the device record of snapshot " + r.id(),
          () -> {
            devices.detachMountLazily(r.id());
            devices.clearRecordedDevice(r.id());
            return null;
          });
      cleared++;
    }
    for (long id :
        store.read(view -> List.copyOf(view.pendingDetaches())).stream()
            .map(p -> p.id())
            .filter(id -> !present.contains(id))
            .toList()) {
      devices.forgetPending(id); // the attacher no longer has it: nothing left to detach
    }
    for (long top : blocks.topsInUse()) {
      if (devices.isMounted(top)) {
        continue; // found in place (a restart of the snapshotter alone)
      }
      try {
        blocks.ensureMounted(top);
        restored++;
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "could not attach the device of snapshot " + top + " again", e);
      }
    }
    restored += writable.restoreAll();
    if (detached + cleared + restored > 0) {
      LOG.info(
          "reconciled OverlayBD devices: "
              + detached
              + " orphaned detached, "
              + cleared
              + " stale or broken records cleared, "
              + restored
              + " in use attached and mounted");
    }
  }

  /** Whether the device of snapshot {@code id} is in use again, so that its detach is moot. */
  private boolean wanted(long id) {
    return store
        .read(view -> view.byId(id))
        .map(r -> blocks.inUse(r) || WritableDevices.modeOf(r) != RwMode.OVERLAYFS)
        .orElse(false);
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /** Stops the background work and waits for it to end. */
  @Override
  public void close() {
    closed = true;
    wake();
    thread.interrupt();
    try {
      thread.join(STOP_DEADLINE.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (thread.isAlive()) {
      LOG.warning("device reconciliation did not stop within " + STOP_DEADLINE.toSeconds() + " s");
    }
  }
}
