package dev.obd.snapshotter.cri;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.snapshotter.device.CredentialPush;
import dev.obd.snapshotter.device.PullCredential;
import dev.obd.snapshotter.errdefs.UnavailableException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Takes the credentials of each PullImage, keeps them ({@link KeptCredentials}) and hands them to
 * the data plane ({@link CredentialPush}) before the pull goes on to containerd: the Prepare of
 * each lazy layer asks the data plane whether it can read the blob, so it must have them by then.
 *
 * <p>The data plane keeps them in memory only, so a restarted one has lost them: every {@code
 * resyncInterval} a thread ({@code cri-credentials}) asks which run of the data plane answers and,
 * when it is not the one that got everything kept, hands it all again. Until then (at most about
 * one interval after the data plane answers again) a read of a running container that misses the
 * data plane's cache is refused by the registry.
 *
 * <p>Thread-safe; pushes are serialized, so a newer pull's credentials are never overwritten by an
 * older copy. Nothing here logs or throws a secret. The creator owns it; {@link #close} stops the
 * thread.
 */
final class CredentialRelay implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(CredentialRelay.class.getName());

  /** How long one push or question to the data plane may take. */
  static final Duration CALL_DEADLINE = Duration.ofSeconds(10);

  private final KeptCredentials kept;
  private final Optional<CredentialPush> push;
  private final Duration ttl;
  private final Clock clock;
  private final Object pushing = new Object();
  private final ScheduledExecutorService resync;
  // guarded by pushing: the run of the data plane that has everything kept; null: none known
  private String pushedTo;

  /**
   * @param push where credentials go; empty when the attacher's data plane cannot take them (tcmu),
   *     and then nothing is kept
   */
  CredentialRelay(
      Optional<CredentialPush> push,
      Duration ttl,
      int maxEntries,
      Duration resyncInterval,
      Clock clock) {
    this.push = push;
    this.ttl = ttl;
    this.clock = clock;
    this.kept = new KeptCredentials(maxEntries, clock);
    this.resync =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "cri-credentials");
              t.setDaemon(true);
              return t;
            });
    if (push.isPresent()) {
      long ms = resyncInterval.toMillis();
      resync.scheduleWithFixedDelay(this::resyncQuietly, ms, ms, TimeUnit.MILLISECONDS);
    }
  }

  /**
   * Called with the bytes of a PullImage request before it is forwarded: keeps and hands over its
   * credentials. Never fails the pull: a request that does not decode is containerd's to refuse,
   * and a data plane that does not take the credentials is logged (the pull may still work with its
   * own).
   */
  void beforePull(byte[] request) {
    PullImageRequest pull;
    try {
      pull = PullImageRequest.parseFrom(request);
    } catch (InvalidProtocolBufferException e) {
      // never e's message or the bytes: they hold the secret
      LOG.fine("PullImage request does not decode; forwarded to containerd as it is");
      return;
    }
    String image = pull.getImage().getImage();
    PullAuth.Outcome outcome = PullAuth.of(pull, clock.instant().plus(ttl));
    if (outcome.credential().isEmpty()) {
      LOG.fine("PullImage of " + excerpt(image) + ": no credentials kept: " + outcome.reason());
      return;
    }
    PullCredential c = outcome.credential().get();
    if (push.isEmpty()) {
      LOG.fine(
          "PullImage of "
              + excerpt(image)
              + ": credentials not kept, the attacher's data plane reads with its own");
      return;
    }
    synchronized (pushing) {
      kept.keep(c);
      try {
        push.get().push(c, CALL_DEADLINE);
        LOG.fine(
            "PullImage of "
                + excerpt(image)
                + ": credentials for "
                + c.repositoryName()
                + " kept until "
                + c.expiresAt()
                + " and handed to the data plane");
      } catch (UnavailableException e) {
        pushedTo = null;
        LOG.warning(
            "PullImage of "
                + excerpt(image)
                + ": "
                + e.getMessage()
                + "; the pull goes on, and the data plane may be refused its layers' blobs until"
                + " it takes them");
      }
    }
  }

  /**
   * Hands everything kept to the data plane again if it is another run than the one that has it.
   */
  void resync() {
    CredentialPush p = push.orElseThrow();
    synchronized (pushing) {
      if (kept.isEmpty()) {
        return;
      }
      String run = p.instance(CALL_DEADLINE);
      if (run.equals(pushedTo)) {
        return;
      }
      int n = 0;
      for (PullCredential c : kept.current()) {
        p.push(c, CALL_DEADLINE);
        n++;
      }
      if (pushedTo != null) {
        LOG.info(
            "obd-backstore restarted (now "
                + run
                + "): handed it the credentials of "
                + n
                + " repositories kept from CRI pulls again");
      }
      pushedTo = run;
    }
  }

  private void resyncQuietly() {
    try {
      resync();
    } catch (UnavailableException e) {
      LOG.log(Level.FINE, "credentials not handed over again yet: " + e.getMessage());
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "handing kept credentials to the data plane again failed", e);
    }
  }

  /** The credentials kept now (for tests). */
  KeptCredentials kept() {
    return kept;
  }

  @Override
  public void close() {
    resync.shutdownNow();
  }

  private static String excerpt(String s) {
    String oneLine = s.replaceAll("\\p{Cntrl}", "?");
    return oneLine.length() > 200 ? oneLine.substring(0, 200) + "..." : oneLine;
  }
}
