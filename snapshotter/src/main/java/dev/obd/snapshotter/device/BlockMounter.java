package dev.obd.snapshotter.device;

import dev.obd.snapshotter.fs.LibC;
import dev.obd.snapshotter.fs.MountTable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/**
 * Mounts an OverlayBD device's filesystem with mount(2) (through {@link LibC}: the JDK has no
 * mount), read-only for the image device shared by containers, read-write for a container's own
 * device. Retries while a freshly attached device is not ready yet, as upstream does, within a
 * bounded time.
 */
public final class BlockMounter {
  private static final long MS_RDONLY = 1;
  private static final int MNT_DETACH = 2;
  private static final int EROFS_MAGIC_OFFSET = 1024;
  private static final int EROFS_MAGIC = 0xE0F5E1E2;
  private static final int MOUNT_ATTEMPTS = 50;

  /**
   * The filesystem on {@code device}: erofs when its superblock says so (whatever the label claims,
   * as upstream does), else {@code declared}.
   */
  public String detectFsType(String device, String declared) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(device, "r")) {
      f.seek(EROFS_MAGIC_OFFSET);
      return Integer.reverseBytes(f.readInt()) == EROFS_MAGIC ? "erofs" : declared;
    } catch (java.io.EOFException tooSmall) {
      return declared;
    }
  }

  /** Mounts {@code device} at {@code target} unless something is mounted there already. */
  public void mount(String device, Path target, String fsType, String options, boolean readOnly)
      throws AttachException {
    if (isMounted(target)) {
      return;
    }
    int errno = 0;
    for (int attempt = 0; attempt < MOUNT_ATTEMPTS; attempt++) {
      if (LibC.calls().mount(device, target.toString(), fsType, readOnly ? MS_RDONLY : 0, options)
          == 0) {
        return;
      }
      errno = LibC.lastError();
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    throw new AttachException(
        "mount "
            + device
            + " ("
            + fsType
            + (readOnly ? ", read-only" : "")
            + ") at "
            + target
            + ": "
            + LibC.describe(errno));
  }

  /** Unmounts {@code target} if mounted; a busy mount is an error, not detached lazily. */
  public void unmount(Path target) throws AttachException {
    if (!isMounted(target)) {
      return;
    }
    if (LibC.calls().umount2(target.toString(), 0) != 0) {
      int errno = LibC.lastError();
      throw new AttachException("unmount " + target + ": " + LibC.describe(errno));
    }
  }

  /** Lazily detaches {@code target} (for cleanup after a failure). */
  public void detachLazily(Path target) {
    LibC.calls().umount2(target.toString(), MNT_DETACH);
  }

  public boolean isMounted(Path target) {
    return MountTable.mountsUnder(target).contains(target.toAbsolutePath().normalize());
  }
}
