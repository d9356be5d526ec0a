package dev.obd.image.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Resolves a path from a layer tar inside the root of the image being built, following symlinks as
 * if the root were {@code /}: absolute link targets restart at the root and {@code ..} stops at it.
 * A hostile layer ({@code a -> /} then {@code a/etc/passwd}) therefore cannot write outside the
 * image.
 */
final class RootedPath {
  private static final int MAX_LINKS = 40;

  private RootedPath() {}

  /**
   * The host path for {@code name} under {@code root}; every component but the last is resolved
   * through symlinks, the last only when {@code followLast}.
   */
  static Path resolve(Path root, String name, boolean followLast) throws IOException {
    Deque<String> todo = new ArrayDeque<>(split(name));
    List<String> done = new ArrayList<>();
    int links = 0;
    while (!todo.isEmpty()) {
      String c = todo.pollFirst();
      if (c.isEmpty() || c.equals(".")) {
        continue;
      }
      if (c.equals("..")) {
        if (!done.isEmpty()) {
          done.remove(done.size() - 1);
        }
        continue;
      }
      if (todo.isEmpty() && !followLast) {
        done.add(c);
        break;
      }
      Path candidate = join(root, done).resolve(c);
      if (Files.isSymbolicLink(candidate)) {
        if (++links > MAX_LINKS) {
          throw new IOException("resolve " + name + ": too many levels of symbolic links");
        }
        String target = Files.readSymbolicLink(candidate).toString();
        if (target.startsWith("/")) {
          done.clear();
        }
        List<String> parts = split(target);
        for (int i = parts.size() - 1; i >= 0; i--) {
          todo.addFirst(parts.get(i));
        }
      } else {
        done.add(c);
      }
    }
    return join(root, done);
  }

  /** Whether {@code p} exists without following a final symlink. */
  static boolean exists(Path p) {
    return Files.exists(p, LinkOption.NOFOLLOW_LINKS);
  }

  private static Path join(Path root, List<String> parts) {
    Path p = root;
    for (String s : parts) {
      p = p.resolve(s);
    }
    return p;
  }

  /** The non-empty components of a slash-separated name. */
  static List<String> split(String name) {
    List<String> out = new ArrayList<>();
    for (String s : name.split("/")) {
      if (!s.isEmpty()) {
        out.add(s);
      }
    }
    return out;
  }
}
