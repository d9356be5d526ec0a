package dev.obd.image.convert;

import dev.obd.image.oci.Digest;
import dev.obd.image.sys.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Applies one OCI layer tar to a mounted root file system, with OCI semantics: {@code .wh.NAME}
 * deletes NAME from the layers below, {@code .wh..wh..opq} empties a directory of what the layers
 * below put there, everything else is created or replaces what was there (directories merge).
 * Ownership, all mode bits, extended attributes (byte-exact), modification times, hard links,
 * symlinks, device nodes and FIFOs are reproduced. Paths are resolved inside the root (see {@link
 * RootedPath}).
 *
 * <p>Whiteouts apply to lower layers only, so they are collected in a first pass and executed
 * before the second pass extracts the layer; the first pass also computes the layer's diffID.
 */
final class LayerApplier {
  private static final String WHITEOUT = ".wh.";
  private static final String OPAQUE = ".wh..wh..opq";

  private final Path root;
  private final Path blob;
  private final List<String> deletions = new ArrayList<>();
  private final List<String> opaqueDirs = new ArrayList<>();
  private final Map<Path, FileTime> dirTimes = new LinkedHashMap<>();
  private final Map<String, Integer> seen = new HashMap<>();
  private PaxXattrs rawXattrs;
  private boolean hasXattrs;

  /** What applying a layer did. */
  record Result(Digest diffId, int entries, int whiteouts, long bytes) {}

  private LayerApplier(Path root, Path blob) {
    this.root = root;
    this.blob = blob;
  }

  /** The diffID (sha256 of the uncompressed tar) of a layer blob, without applying it. */
  static Digest diffId(Path blob) throws IOException {
    MessageDigest md = Digest.sha256();
    try (InputStream in = new DigestInputStream(LayerStreams.open(blob), md)) {
      in.transferTo(OutputStream.nullOutputStream());
    }
    return new Digest(HexFormat.of().formatHex(md.digest()));
  }

  /** Applies the layer in {@code blob} (gzip, zstd or plain tar) to {@code root}. */
  static Result apply(Path root, Path blob) throws IOException {
    return new LayerApplier(root.toRealPath(), blob).run();
  }

  private Result run() throws IOException {
    Digest diffId = scanWhiteouts();
    if (hasXattrs) {
      try (InputStream in = LayerStreams.open(blob)) {
        rawXattrs = PaxXattrs.scan(in);
      }
    }
    for (String d : deletions) {
      Path p = RootedPath.resolve(root, d, false);
      if (RootedPath.exists(p)) {
        deleteTree(p);
      }
    }
    for (String d : opaqueDirs) {
      Path p = RootedPath.resolve(root, d, true);
      if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
        try (DirectoryStream<Path> children = Files.newDirectoryStream(p)) {
          for (Path c : children) {
            deleteTree(c);
          }
        }
      }
    }
    int entries = 0;
    long bytes = 0;
    try (TarArchiveInputStream tar = new TarArchiveInputStream(LayerStreams.open(blob))) {
      for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
        String name = PaxXattrs.normalise(e.getName());
        int occurrence = seen.merge(name, 1, Integer::sum) - 1;
        if (isWhiteout(name)) {
          continue;
        }
        entries++;
        bytes += extract(tar, e, name, occurrence);
      }
    }
    List<Map.Entry<Path, FileTime>> dirs = new ArrayList<>(dirTimes.entrySet());
    for (int i = dirs.size() - 1; i >= 0; i--) {
      setTimes(dirs.get(i).getKey(), dirs.get(i).getValue());
    }
    return new Result(diffId, entries, deletions.size() + opaqueDirs.size(), bytes);
  }

  private Digest scanWhiteouts() throws IOException {
    MessageDigest md = Digest.sha256();
    try (InputStream digested = new DigestInputStream(LayerStreams.open(blob), md);
        TarArchiveInputStream tar = new TarArchiveInputStream(digested)) {
      for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
        String name = PaxXattrs.normalise(e.getName());
        int slash = name.lastIndexOf('/');
        String dir = slash < 0 ? "" : name.substring(0, slash);
        String base = name.substring(slash + 1);
        if (base.equals(OPAQUE)) {
          opaqueDirs.add(dir);
        } else if (base.startsWith(WHITEOUT)) {
          deletions.add((dir.isEmpty() ? "" : dir + "/") + base.substring(WHITEOUT.length()));
        }
        for (String k : e.getExtraPaxHeaders().keySet()) {
          if (k.startsWith("SCHILY.xattr.") || k.startsWith("LIBARCHIVE.xattr.")) {
            hasXattrs = true;
          }
        }
      }
      digested.transferTo(OutputStream.nullOutputStream()); // the diffID covers the whole stream
    }
    return new Digest(HexFormat.of().formatHex(md.digest()));
  }

  private static boolean isWhiteout(String name) {
    String base = name.substring(name.lastIndexOf('/') + 1);
    return base.startsWith(WHITEOUT);
  }

  private long extract(TarArchiveInputStream tar, TarArchiveEntry e, String name, int occurrence)
      throws IOException {
    if (name.isEmpty()) {
      setOwnerAndMode(root, e, false);
      setXattrs(root, e, name, occurrence, false);
      dirTimes.put(root, e.getLastModifiedTime());
      return 0;
    }
    int slash = name.lastIndexOf('/');
    Path parent = ensureDirectory(slash < 0 ? "" : name.substring(0, slash));
    Path target = parent.resolve(name.substring(slash + 1));
    boolean exists = RootedPath.exists(target);
    if (exists && !(e.isDirectory() && Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS))) {
      deleteTree(target);
    }
    long bytes = 0;
    if (e.isDirectory()) {
      if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
        Files.createDirectory(target);
      }
    } else if (e.isLink()) {
      Path existing = RootedPath.resolve(root, e.getLinkName(), false);
      if (!RootedPath.exists(existing)) {
        throw new IOException(
            "apply layer "
                + blob
                + ": hard link "
                + name
                + " -> "
                + e.getLinkName()
                + ": no such file");
      }
      Files.createLink(target, existing);
      return 0; // shares the existing inode and its metadata
    } else if (e.isSymbolicLink()) {
      Files.createSymbolicLink(target, Path.of(e.getLinkName()));
    } else if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
      int type =
          e.isCharacterDevice() ? Posix.S_IFCHR : e.isBlockDevice() ? Posix.S_IFBLK : Posix.S_IFIFO;
      Posix.mknod(target, type | (e.getMode() & 07777), e.getDevMajor(), e.getDevMinor());
    } else if (e.isFile()) {
      try (OutputStream out =
          Files.newOutputStream(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        bytes = tar.transferTo(out);
      }
    } else {
      throw new IOException(
          "apply layer "
              + blob
              + ": entry "
              + name
              + " has an unsupported type '"
              + (char) typeOf(e)
              + "'");
    }
    boolean symlink = e.isSymbolicLink();
    setOwnerAndMode(target, e, symlink);
    setXattrs(target, e, name, occurrence, symlink);
    if (e.isDirectory()) {
      dirTimes.put(target, e.getLastModifiedTime());
    } else {
      setTimes(target, e.getLastModifiedTime());
    }
    return bytes;
  }

  private static int typeOf(TarArchiveEntry e) {
    return e.isGNUSparse() ? 'S' : '?';
  }

  /** The directory {@code dir} (relative), created with mode 0755 where missing. */
  private Path ensureDirectory(String dir) throws IOException {
    Path p = root;
    StringBuilder prefix = new StringBuilder();
    for (String c : dir.split("/")) {
      if (c.isEmpty()) {
        continue;
      }
      if (prefix.length() > 0) {
        prefix.append('/');
      }
      prefix.append(c);
      p = RootedPath.resolve(root, prefix.toString(), true);
      if (!RootedPath.exists(p)) {
        Files.createDirectory(p);
      } else if (!Files.isDirectory(p)) {
        throw new IOException("apply layer " + blob + ": " + prefix + " is not a directory");
      }
    }
    return p;
  }

  private static void setOwnerAndMode(Path p, TarArchiveEntry e, boolean symlink)
      throws IOException {
    Posix.lchown(p, (int) e.getLongUserId(), (int) e.getLongGroupId());
    if (!symlink) {
      Posix.chmod(p, e.getMode()); // after chown, which clears set-id bits
    }
  }

  private void setXattrs(Path p, TarArchiveEntry e, String name, int occurrence, boolean symlink)
      throws IOException {
    Map<String, byte[]> raw = rawXattrs == null ? null : rawXattrs.of(name, occurrence);
    Map<String, byte[]> xattrs = new LinkedHashMap<>();
    if (raw != null) {
      xattrs.putAll(raw);
    } else {
      for (Map.Entry<String, String> h : e.getExtraPaxHeaders().entrySet()) {
        if (h.getKey().startsWith("SCHILY.xattr.")) {
          xattrs.put(
              h.getKey().substring("SCHILY.xattr.".length()),
              h.getValue().getBytes(StandardCharsets.UTF_8));
        }
      }
    }
    for (Map.Entry<String, byte[]> x : xattrs.entrySet()) {
      if (symlink && x.getKey().startsWith("user.")) {
        continue; // Linux allows no user.* attributes on symlinks
      }
      Posix.setXattr(p, x.getKey(), x.getValue());
    }
  }

  private static void setTimes(Path p, FileTime mtime) throws IOException {
    if (mtime == null) {
      return;
    }
    Posix.setTimes(p, mtime);
  }

  /** Deletes {@code p} and, for a directory, all it contains; never follows symlinks. */
  static void deleteTree(Path p) throws IOException {
    if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
      Files.delete(p);
      return;
    }
    Files.walkFileTree(
        p,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
            Files.delete(f);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
            if (e != null) {
              throw e;
            }
            Files.delete(d);
            return FileVisitResult.CONTINUE;
          }
        });
  }
}
