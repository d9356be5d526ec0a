package dev.obd.snapshotter.device;

import dev.obd.snapshotter.fs.MountTable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.SaveError;

/**
 * Mounts an OverlayBD device's filesystem with mount(2) (through jnr-ffi: the JDK has no mount),
 * read-only for the image device shared by containers, read-write for a container's own device.
 * Retries while a freshly attached device is not ready yet, as upstream does, within a bounded
 * time.
 */
public final class BlockMounter {
  /** mount(2) and umount2(2). */
  public interface LibC {
    @SaveError
    int mount(String source, String target, String fstype, long flags, String data);

    @SaveError
    int umount2(String target, int flags);
  }

  private static final long MS_RDONLY = 1;
  private static final int MNT_DETACH = 2;
  private static final int EROFS_MAGIC_OFFSET = 1024;
  private static final int EROFS_MAGIC = 0xE0F5E1E2;
  private static final int MOUNT_ATTEMPTS = 50;

  private final LibC libc = LibraryLoader.create(LibC.class).load("c");

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
      if (libc.mount(device, target.toString(), fsType, readOnly ? MS_RDONLY : 0, options) == 0) {
        return;
      }
      errno = Runtime.getRuntime(libc).getLastError();
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
            + describe(errno));
  }

  /** Unmounts {@code target} if mounted; a busy mount is an error, not detached lazily. */
  public void unmount(Path target) throws AttachException {
    if (!isMounted(target)) {
      return;
    }
    if (libc.umount2(target.toString(), 0) != 0) {
      int errno = Runtime.getRuntime(libc).getLastError();
      throw new AttachException("unmount " + target + ": " + describe(errno));
    }
  }

  /** Lazily detaches {@code target} (for cleanup after a failure). */
  public void detachLazily(Path target) {
    libc.umount2(target.toString(), MNT_DETACH);
  }

  public boolean isMounted(Path target) {
    return MountTable.mountsUnder(target).contains(target.toAbsolutePath().normalize());
  }

  private static String describe(int errno) {
    Errno e = Errno.valueOf(errno);
    return e == null ? "errno " + errno : e.description();
  }
}
