package dev.obd.backstore.nbd;

import dev.obd.image.VirtualDisk;
import java.util.Objects;

/**
 * What one NBD server offers: a named virtual disk and its block size. The export is read-only
 * exactly when the disk is not writable (an image config without an upper layer).
 *
 * @param name export name announced by NBD_OPT_LIST; clients may also ask for the empty name
 * @param description a line for NBD_INFO_DESCRIPTION, e.g. the config path
 * @param disk the disk; owned by the caller, not closed by the server
 * @param blockSize minimum block size announced to clients, 512 or 4096
 */
public record Export(String name, String description, VirtualDisk disk, int blockSize) {
  public Export {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(description, "description");
    Objects.requireNonNull(disk, "disk");
    if (blockSize != 512 && blockSize != 4096) {
      throw new IllegalArgumentException("block size must be 512 or 4096, not " + blockSize);
    }
    if (disk.size() % blockSize != 0) {
      throw new IllegalArgumentException(
          "disk size " + disk.size() + " is not a multiple of the block size " + blockSize);
    }
  }

  public boolean readOnly() {
    return !disk.writable();
  }

  /** The transmission flags announced for this export. */
  public int transmissionFlags() {
    int flags = NbdProtocol.TFLAG_HAS_FLAGS | NbdProtocol.TFLAG_SEND_FLUSH;
    if (readOnly()) {
      flags |= NbdProtocol.TFLAG_READ_ONLY | NbdProtocol.TFLAG_CAN_MULTI_CONN;
    } else {
      flags |= NbdProtocol.TFLAG_SEND_TRIM | NbdProtocol.TFLAG_SEND_FUA;
    }
    return flags;
  }
}
