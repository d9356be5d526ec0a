package dev.obd.snapshotter.device;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.BlobAccessDeniedException;
import dev.obd.backstore.api.BlobNotFoundException;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceNotFoundException;
import dev.obd.backstore.api.DeviceState;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Devices served by obd-backstore, our own data plane, over NBD (kernel {@code /dev/nbdN}, or
 * nbdfuse + a loop device where the kernel has no nbd). The backstore is a separate process, so
 * devices survive restarts of the snapshotter. The device the backstore names is handed out only
 * once it opens and reads ({@link DeviceReadiness}); one that does not by the deadline is removed
 * again.
 */
public final class NbdAttacher implements DeviceAttacher {
  private final BackstoreClient client;
  private final Path socket;
  private final Pattern ownConfigs;
  private final KernelFiles kernel;

  /**
   * @param socket the backstore's control socket
   * @param snapshotsDir {@code <root>/snapshots}: configs below it belong to this snapshotter
   */
  public NbdAttacher(Path socket, Path snapshotsDir) {
    this(socket, snapshotsDir, new HostKernelFiles());
  }

  /** With {@code kernel} opening the devices (tests simulate kernel nbd's not-yet-ready device). */
  NbdAttacher(Path socket, Path snapshotsDir, KernelFiles kernel) {
    this.client = new BackstoreClient(socket);
    this.socket = socket;
    this.kernel = kernel;
    this.ownConfigs =
        Pattern.compile(
            "^" + Pattern.quote(snapshotsDir.toString()) + "/([0-9]+)/block/config\\.v1\\.json$");
  }

  @Override
  public String name() {
    return "nbd";
  }

  @Override
  public java.util.Optional<CredentialPush> credentialPush() {
    return java.util.Optional.of(new BackstoreCredentialPush(client, socket));
  }

  @Override
  public String attach(long id, Path config, Duration deadline) throws AttachException {
    long end = System.nanoTime() + deadline.toNanos();
    DeviceInfo d;
    try {
      d = client.add(config, deadline);
    } catch (BackstoreApiException e) {
      throw new AttachException(
          "attach nbd device for snapshot "
              + id
              + " (config "
              + config
              + ") through obd-backstore at "
              + socket
              + ": "
              + e.getMessage(),
          e);
    }
    if (d.state() != DeviceState.ATTACHED) {
      throw new AttachException(
          "obd-backstore reports device "
              + d.device()
              + " for "
              + config
              + " as "
              + d.state().wireName()
              + ": "
              + d.error());
    }
    try {
      DeviceReadiness.await(kernel, d.device(), end);
    } catch (AttachException | InterruptedException e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new AttachException(
          "attach nbd device for snapshot "
              + id
              + " (config "
              + config
              + "): obd-backstore attached "
              + d.device()
              + ", but "
              + (e instanceof InterruptedException
                  ? "the wait for it was interrupted"
                  : e.getMessage())
              + removeAfterFailure(config),
          e);
    }
    return d.device();
  }

  /**
   * Removes the device of a failed attach, so that the next attach starts afresh; returns what to
   * add to the attach's error: nothing, or why the device stays.
   */
  private String removeAfterFailure(Path config) {
    try {
      client.remove(config.toString(), Duration.ofSeconds(30));
      return "";
    } catch (DeviceNotFoundException e) {
      return "";
    } catch (BackstoreApiException e) {
      return "; removing it again failed too: " + e.getMessage();
    }
  }

  @Override
  public void detach(long id, Path config, Duration deadline) throws AttachException {
    try {
      client.remove(config.toString(), deadline);
    } catch (DeviceNotFoundException e) {
      // removed already: what detach is for
    } catch (BackstoreApiException e) {
      throw new AttachException(
          "detach nbd device of snapshot " + id + " (config " + config + "): " + e.getMessage(), e);
    }
  }

  /** Asks obd-backstore ({@code POST /v1/blobs/check}), which reads as a device's read would. */
  @Override
  public BlobAccess checkBlob(String repoBlobUrl, String digest, long size, Duration deadline) {
    try {
      client.checkBlob(repoBlobUrl, digest, size, deadline);
      return BlobAccess.readable();
    } catch (BlobAccessDeniedException e) {
      return new BlobAccess(BlobAccess.Outcome.DENIED, e.getMessage());
    } catch (BlobNotFoundException e) {
      return new BlobAccess(BlobAccess.Outcome.NOT_FOUND, e.getMessage());
    } catch (BackstoreApiException e) {
      return new BlobAccess(
          BlobAccess.Outcome.UNKNOWN, "obd-backstore at " + socket + ": " + e.getMessage());
    }
  }

  @Override
  public Map<Long, AttachedDevice> attached(Duration deadline) throws AttachException {
    try {
      Map<Long, AttachedDevice> out = new HashMap<>();
      for (DeviceInfo d : client.list(deadline)) {
        Matcher m = ownConfigs.matcher(d.config());
        if (m.matches()) {
          out.put(
              Long.parseLong(m.group(1)),
              d.state() == DeviceState.ATTACHED
                  ? AttachedDevice.healthy(d.device())
                  : AttachedDevice.broken(d.device(), d.state().wireName() + ": " + d.error()));
        }
      }
      return out;
    } catch (BackstoreApiException e) {
      throw new AttachException(
          "list devices of obd-backstore at " + socket + ": " + e.getMessage(), e);
    }
  }
}
