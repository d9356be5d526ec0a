package dev.obd.backstore.attach;

import dev.obd.backstore.nbd.NbdServer;
import java.time.Duration;

/**
 * Makes an NBD export a kernel block device and takes it away again. Each call finishes within its
 * deadline or fails with an {@link AttachException} that names the step.
 */
public interface Attacher {
  AttachMode mode();

  /**
   * Attaches the export of {@code server} as a block device.
   *
   * @param id the daemon's device id, used for names under the run directory
   */
  Attachment attach(String id, NbdServer server, Duration deadline) throws AttachException;

  /**
   * After a daemon restart: points the existing kernel device of {@code previous} at the new {@code
   * server} so that mounted filesystems keep working.
   */
  Attachment reconnect(String id, Attachment previous, NbdServer server, Duration deadline)
      throws AttachException;

  /**
   * Removes the block device.
   *
   * @throws AttachException if the device is in use (mounted) or a step fails
   */
  void detach(Attachment attachment, Duration deadline) throws AttachException;

  /** Whether the kernel side of {@code attachment} still exists. */
  boolean exists(Attachment attachment);
}
