package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.fs.Trees;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.storage.ReadView;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Creates, inspects and deletes the per-snapshot directories under {@code <root>/snapshots}. */
final class SnapshotDirectories {
  private static final Logger LOG = Logger.getLogger(SnapshotDirectories.class.getName());
  private static final Set<PosixFilePermission> MODE_0700 =
      PosixFilePermissions.fromString("rwx------");
  private static final Set<PosixFilePermission> MODE_0755 =
      PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> MODE_0711 =
      PosixFilePermissions.fromString("rwx--x--x");

  private final SnapshotLayout layout;

  SnapshotDirectories(SnapshotLayout layout) {
    this.layout = layout;
  }

  /** Creates {@code dir} (and missing parents) and makes it mode 0700 whatever the umask. */
  static void createPrivateDirectory(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.setPosixFilePermissions(dir, MODE_0700);
  }

  /**
   * Builds {@code new-XXXX/} with {@code fs/} (0755) and, for an active snapshot, {@code work/}
   * (0711), as containerd's overlayfs snapshotter does; modes are set explicitly so the umask does
   * not matter.
   */
  Path createTemp(Kind kind) {
    try {
      Path temp = Files.createTempDirectory(layout.snapshotsDir(), SnapshotLayout.TEMP_PREFIX);
      Path fs = Files.createDirectory(temp.resolve("fs"));
      Files.setPosixFilePermissions(fs, MODE_0755);
      if (kind == Kind.ACTIVE) {
        Path work = Files.createDirectory(temp.resolve("work"));
        Files.setPosixFilePermissions(work, MODE_0711);
      }
      return temp;
    } catch (IOException e) {
      throw new UncheckedIOException("create snapshot directory in " + layout.snapshotsDir(), e);
    }
  }

  /**
   * Gives {@code target} the owner of {@code source}, so a layer inherits its parent's root owner.
   */
  void copyOwner(Path source, Path target) throws IOException {
    int uid = (Integer) Files.getAttribute(source, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    int gid = (Integer) Files.getAttribute(source, "unix:gid", LinkOption.NOFOLLOW_LINKS);
    if (uid != 0 || gid != 0) {
      Files.setAttribute(target, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
      Files.setAttribute(target, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    }
  }

  /** Directories under {@code snapshots/} that no snapshot in {@code view} owns. */
  List<Path> orphans(ReadView view) {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(layout.snapshotsDir())) {
      for (Path entry : entries) {
        long id = parseId(entry.getFileName().toString());
        if (id <= 0 || view.byId(id).isEmpty()) {
          out.add(entry);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("list " + layout.snapshotsDir(), e);
    }
    return out;
  }

  /**
   * Deletes temporary directories left by a crash (they only exist while a live process holds the
   * write lock) and returns the highest numeric directory name, so that ids are never reused even
   * when a crash left the directory of an uncommitted snapshot behind.
   */
  long removeTempDirsAndFindHighestId() throws IOException {
    long highest = 0;
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(layout.snapshotsDir())) {
      for (Path entry : entries) {
        String name = entry.getFileName().toString();
        if (name.startsWith(SnapshotLayout.TEMP_PREFIX)) {
          deleteQuietly(entry);
        }
        highest = Math.max(highest, parseId(name));
      }
    }
    return highest;
  }

  /** Deletes a directory tree; a failure is logged, not thrown (the snapshot is gone already). */
  void deleteQuietly(Path dir) {
    try {
      Trees.deleteRecursively(dir);
    } catch (IOException | UncheckedIOException e) {
      LOG.log(Level.WARNING, "failed to remove directory " + dir + "; Cleanup will retry", e);
    }
  }

  private static long parseId(String name) {
    if (name.isEmpty() || name.length() > 18) {
      return -1;
    }
    for (int i = 0; i < name.length(); i++) {
      if (name.charAt(i) < '0' || name.charAt(i) > '9') {
        return -1;
      }
    }
    return Long.parseLong(name);
  }
}
