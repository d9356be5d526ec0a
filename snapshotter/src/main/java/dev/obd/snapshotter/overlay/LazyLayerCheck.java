package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.config.SnapshotterConfig.RemoteAccessCheck;
import dev.obd.snapshotter.device.BlobAccess;
import dev.obd.snapshotter.device.DeviceAttacher;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * Whether a remote OverlayBD layer may be answered ALREADY_EXISTS (read lazily later) at its
 * Prepare: the attacher's data plane is asked once whether it can read the layer's blob with its
 * own credentials, so that missing or refused credentials fail the pull, with the registry's
 * answer, instead of a container's first block read (EIO). The configured {@link RemoteAccessCheck}
 * says what a refusal does: fail the Prepare, or let containerd download the layer whole as an
 * ordinary one.
 *
 * <p>A data plane that cannot be reached or gives no answer never fails a pull (the backstore may
 * start after the snapshotter): the layer stays lazy, with one warning per blob, and the other
 * blobs of that repository are not asked about for a minute (an image's layers must not each wait
 * out {@link #DEADLINE} for a registry the backstore cannot reach). With the tcmu attacher nothing
 * is asked: upstream's overlaybd-tcmu reads the blobs and has no such call. Readable blobs are
 * remembered (per repository URL and digest, at most {@link #REMEMBERED}) for the daemon's
 * lifetime, so an image's layers and repeated pulls cost one request per blob.
 *
 * <p>Thread-safe.
 */
final class LazyLayerCheck {
  private static final Logger LOG = Logger.getLogger(LazyLayerCheck.class.getName());

  /** How long one check may take; past it the data plane counts as not answering. */
  static final Duration DEADLINE = Duration.ofSeconds(20);

  /** How long after a check got no answer the repository's blobs are not asked about. */
  static final long QUIET_NANOS = TimeUnit.SECONDS.toNanos(60);

  /** How many readable blobs, and how many warned-about ones, are remembered at most. */
  static final int REMEMBERED = 4096;

  private final RemoteAccessCheck mode;
  private final DeviceAttacher attacher;
  private final Duration deadline;
  private final Set<String> readable = boundedSet();
  private final Set<String> warned = boundedSet();
  private final AtomicBoolean toldNotChecked = new AtomicBoolean();

  /** When a check of a blob under a repository URL last got no answer (System.nanoTime). */
  private final Map<String, Long> unanswered = new ConcurrentHashMap<>();

  LazyLayerCheck(RemoteAccessCheck mode, DeviceAttacher attacher, Duration deadline) {
    this.mode = mode;
    this.attacher = attacher;
    this.deadline = deadline;
  }

  /**
   * Whether layer {@code layer}, whose blobs are under {@code repoBlobUrl}, stays lazy: true to
   * record it as committed and answer ALREADY_EXISTS; false (mode {@code download}, blob refused or
   * missing) to let the Prepare go on as for an ordinary layer, which containerd downloads and
   * unpacks.
   *
   * @throws FailedPreconditionException in mode {@code fail}, when the data plane cannot read the
   *     blob: the message carries the registry's answer
   */
  boolean staysLazy(String key, RemoteLayer layer, String repoBlobUrl) {
    if (mode == RemoteAccessCheck.OFF) {
      return true;
    }
    String blob = repoBlobUrl + "/" + layer.blobDigest();
    if (readable.contains(blob)) {
      return true;
    }
    Long silentSince = unanswered.get(repoBlobUrl);
    long now = System.nanoTime();
    if (silentSince != null && now - silentSince < QUIET_NANOS) {
      warnOnce(
          blob,
          layer,
          "not asked: a check of another blob of "
              + repoBlobUrl
              + " got no answer "
              + TimeUnit.NANOSECONDS.toSeconds(now - silentSince)
              + " s ago");
      return true;
    }
    BlobAccess access =
        attacher.checkBlob(repoBlobUrl, layer.blobDigest(), layer.blobSize(), deadline);
    if (access.outcome() == BlobAccess.Outcome.UNKNOWN) {
      if (unanswered.size() >= REMEMBERED) {
        unanswered.clear();
      }
      unanswered.put(repoBlobUrl, System.nanoTime());
    } else {
      unanswered.remove(repoBlobUrl);
    }
    switch (access.outcome()) {
      case READABLE:
        readable.add(blob);
        warned.remove(blob);
        return true;
      case NOT_CHECKED:
        // tcmu (documented), or the warm-up's scratch snapshotter: said once, at debug level
        if (toldNotChecked.compareAndSet(false, true)) {
          LOG.fine(
              "remoteAccessCheck: lazy layers are not checked at pull time: " + access.reason());
        }
        return true;
      case UNKNOWN:
        warnOnce(blob, layer, access.reason());
        return true;
      default:
        break;
    }
    if (mode == RemoteAccessCheck.DOWNLOAD) {
      LOG.info(
          "downloading "
              + describe(layer)
              + " whole (remoteAccessCheck download): obd-backstore cannot read it lazily: "
              + access.reason());
      return false;
    }
    throw new FailedPreconditionException(
        "prepare "
            + key
            + ": lazy OverlayBD layer "
            + describe(layer)
            + " cannot be read by obd-backstore ("
            + (access.outcome() == BlobAccess.Outcome.DENIED ? "access denied" : "blob not found")
            + "): "
            + access.reason()
            + "; give obd-backstore credentials for the registry, or set remoteAccessCheck to"
            + " \"download\"");
  }

  private void warnOnce(String blob, RemoteLayer layer, String why) {
    if (warned.add(blob)) {
      LOG.warning(
          "could not check that "
              + attacher.name()
              + "'s data plane can read "
              + describe(layer)
              + " (the layer stays lazy; a refusal would show at its first read): "
              + why);
    }
  }

  private static String describe(RemoteLayer layer) {
    return "blob "
        + layer.blobDigest()
        + " of "
        + layer.image().host()
        + "/"
        + layer.image().repository();
  }

  private static Set<String> boundedSet() {
    return Collections.synchronizedSet(
        Collections.newSetFromMap(
            new LinkedHashMap<String, Boolean>(64, 0.75f, true) {
              private static final long serialVersionUID = 1L;

              @Override
              protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > REMEMBERED;
              }
            }));
  }
}
