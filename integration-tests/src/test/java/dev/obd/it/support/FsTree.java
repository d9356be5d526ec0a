package dev.obd.it.support;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a user sees of a directory tree: for every path, its type, permissions, owner, and content
 * digest or link target. Two trees are equal when a user could not tell them apart.
 */
public final class FsTree {
  private FsTree() {}

  public static Map<String, String> of(Path root) {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        String rel = root.relativize(p).toString();
        out.put(rel.isEmpty() ? "." : rel, describe(p, !rel.isEmpty()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("walk " + root, e);
    }
    return out;
  }

  private static String describe(Path p, boolean withOwnerAndMode) throws IOException {
    PosixFileAttributes a =
        Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    StringBuilder sb = new StringBuilder();
    if (a.isSymbolicLink()) {
      sb.append("symlink -> ").append(Files.readSymbolicLink(p));
    } else if (a.isDirectory()) {
      sb.append("dir");
    } else if (a.isRegularFile()) {
      sb.append("file ").append(a.size()).append(' ').append(sha256(p));
    } else {
      sb.append("special");
    }
    if (withOwnerAndMode && !a.isSymbolicLink()) {
      sb.append(' ').append(PosixFilePermissions.toString(a.permissions()));
      sb.append(' ').append(Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS));
      sb.append(':').append(Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS));
    }
    return sb.toString();
  }

  private static String sha256(Path p) throws IOException {
    try (InputStream in = Files.newInputStream(p)) {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[65536];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
