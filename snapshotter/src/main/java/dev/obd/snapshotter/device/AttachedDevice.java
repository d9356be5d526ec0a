package dev.obd.snapshotter.device;

import java.util.Objects;

/**
 * A device an attacher reports as attached.
 *
 * @param device the block device, e.g. {@code /dev/nbd3}; "" when the attachment is incomplete
 * @param healthy whether it serves I/O; a broken one (its backstore could not reconnect it after a
 *     restart, or its configfs objects are half there) has to be detached and attached again
 * @param problem why it is not healthy, else ""
 */
public record AttachedDevice(String device, boolean healthy, String problem) {
  public AttachedDevice {
    Objects.requireNonNull(device, "device");
    Objects.requireNonNull(problem, "problem");
  }

  public static AttachedDevice healthy(String device) {
    return new AttachedDevice(device, true, "");
  }

  public static AttachedDevice broken(String device, String problem) {
    return new AttachedDevice(device, false, problem);
  }
}
