package dev.obd.snapshotter.fs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * Disk usage of a directory tree as containerd measures it: allocated blocks × 512 bytes and the
 * number of distinct inodes (the root included), each inode counted once however many hard links
 * point to it. Symbolic links are not followed. Files that vanish during the walk (a running
 * container deleting them) are skipped.
 */
public record DiskUsage(long bytes, long inodes) {

  public static DiskUsage measure(Path root) {
    Set<InodeKey> seen = new HashSet<>();
    long bytes = 0;
    Deque<Path> pending = new ArrayDeque<>();
    pending.push(root);
    while (!pending.isEmpty()) {
      Path path = pending.pop();
      LibC.Stat st;
      try {
        st = LibC.lstat(path.toString());
      } catch (IOException e) {
        throw new UncheckedIOException("measure disk usage of " + root, e);
      }
      if (st == null) {
        continue;
      }
      if (seen.add(new InodeKey(st.dev(), st.ino()))) {
        bytes += st.blocks() * 512;
      }
      if (!st.isDirectory()) {
        continue;
      }
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(path)) {
        entries.forEach(pending::push);
      } catch (NoSuchFileException vanished) {
        // deleted while we walked it
      } catch (IOException e) {
        throw new UncheckedIOException("measure disk usage of " + path, e);
      }
    }
    return new DiskUsage(bytes, seen.size());
  }

  private record InodeKey(long dev, long ino) {}
}
