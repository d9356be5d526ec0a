package dev.obd.backstore.attach;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Objects;

/**
 * Where a device is attached, kept in the daemon's state directory so that a restarted daemon can
 * reconnect the kernel side to a new server.
 *
 * @param mode the attach path
 * @param device the block device a user mounts, e.g. {@code /dev/nbd3} or {@code /dev/loop7}
 * @param nbdIndex the kernel nbd index ({@link AttachMode#KERNEL_NBD}), else -1
 * @param fuseMount the nbdfuse mount point ({@link AttachMode#FUSE_LOOP}), else ""
 * @param nbdfusePid the nbdfuse process ({@link AttachMode#FUSE_LOOP}), else 0
 */
public record Attachment(
    @JsonProperty("mode") AttachMode mode,
    @JsonProperty("device") String device,
    @JsonProperty("nbdIndex") int nbdIndex,
    @JsonProperty("fuseMount") String fuseMount,
    @JsonProperty("nbdfusePid") long nbdfusePid) {
  public Attachment {
    Objects.requireNonNull(mode);
    Objects.requireNonNull(device);
    fuseMount = fuseMount == null ? "" : fuseMount;
  }
}
