package dev.obd.snapshotter.device;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Turns an OverlayBD image description ({@code config.v1.json}) into a block device, and back. One
 * device per snapshot id. Implementations are thread-safe; every call has a deadline and fails with
 * a message that says what was attempted and why it failed.
 */
public interface DeviceAttacher {

  /** {@code tcmu} or {@code nbd}, as the configuration names it. */
  String name();

  /**
   * Attaches the device of snapshot {@code id} described by {@code config}, or returns the device
   * already attached for it.
   *
   * @return the block device, e.g. {@code /dev/sdc} or {@code /dev/nbd3}
   */
  String attach(long id, Path config, Duration deadline) throws AttachException;

  /** Detaches the device of snapshot {@code id}; a device that is not attached is fine. */
  void detach(long id, Path config, Duration deadline) throws AttachException;

  /**
   * The devices this attacher has attached for this snapshotter, by snapshot id, broken ones
   * included (for reconciliation).
   */
  Map<Long, AttachedDevice> attached(Duration deadline) throws AttachException;

  /**
   * Where pull credentials go so that this attacher's data plane can read blobs with them: empty by
   * default, for upstream's overlaybd-tcmu, which reads only its own credential files.
   */
  default java.util.Optional<CredentialPush> credentialPush() {
    return java.util.Optional.empty();
  }

  /**
   * Whether this attacher's data plane can read blob {@code digest} of {@code size} bytes under
   * {@code repoBlobUrl} now, with its own credentials (the values a remote layer's config.v1.json
   * names). Never throws: a data plane that does not answer is {@link BlobAccess.Outcome#UNKNOWN}.
   * By default {@link BlobAccess.Outcome#NOT_CHECKED}: upstream's overlaybd-tcmu, which serves the
   * tcmu attacher's devices, has no such call.
   */
  default BlobAccess checkBlob(String repoBlobUrl, String digest, long size, Duration deadline) {
    return new BlobAccess(
        BlobAccess.Outcome.NOT_CHECKED,
        "the " + name() + " attacher's data plane reads blobs itself and cannot be asked");
  }

  /**
   * The attacher of a snapshotter that uses no OverlayBD layers (a scratch snapshotter, a test):
   * nothing is attached, and an attach fails with {@code why}.
   */
  static DeviceAttacher none(String why) {
    return new DeviceAttacher() {
      @Override
      public String name() {
        return "none";
      }

      @Override
      public String attach(long id, Path config, Duration deadline) throws AttachException {
        throw new AttachException(why);
      }

      @Override
      public void detach(long id, Path config, Duration deadline) {}

      @Override
      public Map<Long, AttachedDevice> attached(Duration deadline) {
        return Map.of();
      }
    };
  }
}
