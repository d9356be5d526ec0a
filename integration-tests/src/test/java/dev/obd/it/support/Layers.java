package dev.obd.it.support;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * File-system changes a test applies to a layer, written once and applied both to a mounted
 * snapshot and to a plain "flat" directory that serves as the expected result.
 */
public final class Layers {
  private Layers() {}

  /** A change to a directory tree. */
  @FunctionalInterface
  public interface Change {
    void apply(Path root) throws IOException;

    default void applyTo(Path root) {
      try {
        apply(root);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  public static Change all(Change... changes) {
    return root -> {
      for (Change c : changes) {
        c.apply(root);
      }
    };
  }

  public static Change file(String path, String content, String mode) {
    return root -> {
      Path p = resolve(root, path);
      Files.writeString(p, content);
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    };
  }

  public static Change dir(String path, String mode) {
    return root -> {
      Path p = resolve(root, path);
      if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
        Files.createDirectory(p);
      }
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
    };
  }

  public static Change removeAll(String path) {
    return root -> deleteTree(resolve(root, path));
  }

  /**
   * Renames like mv(1), which copies and deletes when the kernel refuses a rename (overlayfs
   * answers EXDEV for directories that come from a lower layer unless redirect_dir is on).
   */
  public static Change rename(String from, String to) {
    return root ->
        Mounts.run(
            List.of("mv", "-T", resolve(root, from).toString(), resolve(root, to).toString()),
            null);
  }

  public static Change hardLink(String existing, String link) {
    return root -> Files.createLink(resolve(root, link), resolve(root, existing));
  }

  public static Change symlink(String target, String link) {
    return root -> Files.createSymbolicLink(resolve(root, link), Path.of(target));
  }

  public static Change chown(String path, int uid, int gid) {
    return root -> {
      Path p = resolve(root, path);
      Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
      Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    };
  }

  private static Path resolve(Path root, String path) {
    String rel = path.startsWith("/") ? path.substring(1) : path;
    return rel.isEmpty() ? root : root.resolve(rel);
  }

  public static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      List<Path> all = new ArrayList<>(s.sorted(Comparator.reverseOrder()).toList());
      for (Path x : all) {
        Files.delete(x);
      }
    }
  }

  /**
   * containerd's "check snapshots": builds a chain of committed layers, one per change, checking
   * after each one that a fresh snapshot on top shows exactly the cumulative result, and finally
   * that a view of every layer does too.
   *
   * @return the names of the committed layers, bottom first
   */
  public static List<String> buildAndCheckChain(
      SnapshotsClient client, ContainerdMounts mounts, Path work, String prefix, Change... changes)
      throws IOException {
    Path flat = Files.createDirectories(work.resolve(prefix + "-flat"));
    Files.setPosixFilePermissions(flat, PosixFilePermissions.fromString("rwxr-xr-x"));
    List<String> committed = new ArrayList<>();
    String parent = "";
    for (int i = 0; i < changes.length; i++) {
      String key = prefix + "/active-" + i;
      Path target = Files.createDirectories(work.resolve(prefix + "-mnt-" + i));
      mounts.mountAll(client.prepare(key, parent), target);
      assertThat(FsTree.of(target)).as("layer %d before changes", i).isEqualTo(FsTree.of(flat));
      changes[i].applyTo(target);
      changes[i].applyTo(flat);
      assertThat(FsTree.of(target)).as("layer %d after changes", i).isEqualTo(FsTree.of(flat));
      mounts.unmount(target);
      String name = prefix + "/committed-" + i;
      client.commit(name, key);
      committed.add(name);
      parent = name;
    }
    Path view = Files.createDirectories(work.resolve(prefix + "-view"));
    mounts.mountAll(client.view(prefix + "/view", parent), view);
    assertThat(FsTree.of(view)).as("view of the top layer").isEqualTo(FsTree.of(flat));
    mounts.unmount(view);
    client.remove(prefix + "/view");
    return committed;
  }
}
