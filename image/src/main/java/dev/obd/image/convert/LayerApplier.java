package dev.obd.image.convert;

import dev.obd.image.oci.Digest;
import dev.obd.image.sys.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
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
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * <p>One pass over the decompressed stream: whiteouts may come after entries of the same layer, so
 * a whiteout removes only what this layer has not created itself (a directory this layer touched is
 * kept and pruned of its lower content), which is what applying whiteouts first would give. The
 * same pass computes the layer's diffID.
 */
final class LayerApplier implements LayerSteps {
  static final String WHITEOUT = ".wh.";
  static final String OPAQUE = ".wh..wh..opq";

  private final Path root;
  private final Path blob;
  private final Set<String> created = new HashSet<>();
  private final Map<Path, FileTime> dirTimes = new LinkedHashMap<>();

  /** Where what the layer removes waits until the end (null until something is removed). */
  private Path removed;

  private int removedCount;

  /** What applying a layer did. */
  record Result(Digest diffId, int entries, int whiteouts, long bytes) {}

  private LayerApplier(Path root, Path blob) {
    this.root = root;
    this.blob = blob;
  }

  /** Applies the layer in {@code blob} (gzip, zstd or plain tar) to {@code root}. */
  static Result apply(Path root, Path blob) throws IOException {
    // on one CPU, so that ext4's per-CPU counters of free inodes and blocks, which it reads
    // without their per-CPU parts when it picks a group for a new top-level directory (Orlov),
    // are the same from run to run; spread over the CPUs the scheduler moves the thread to, they
    // could send the same directory to another group on a busy machine
    Posix.CpuPin pin = Posix.pinToOneCpu();
    try {
      return new LayerApplier(root.toRealPath(), blob).run();
    } finally {
      pin.close();
    }
  }

  /**
   * Reads the layer in {@code blob} (gzip, zstd or plain tar) and hands each entry to {@code
   * steps}; the names of what it creates go to {@code created}. The diffID covers the whole stream.
   */
  static Result walk(Path blob, LayerSteps steps, Set<String> created) throws IOException {
    MessageDigest md = Digest.sha256();
    int entries = 0;
    int whiteouts = 0;
    long bytes = 0;
    try (InputStream digested = new DigestInputStream(LayerStreams.open(blob), md);
        PaxXattrTap tap = new PaxXattrTap(digested);
        TarArchiveInputStream tar = new TarArchiveInputStream(tap)) {
      for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
        String name = normalise(e.getName());
        Map<String, byte[]> raw = tap.take(name);
        int slash = name.lastIndexOf('/');
        String dir = slash < 0 ? "" : name.substring(0, slash);
        String base = name.substring(slash + 1);
        if (base.equals(OPAQUE)) {
          whiteouts++;
          steps.opaque(dir);
        } else if (base.startsWith(WHITEOUT)) {
          whiteouts++;
          steps.whiteout((dir.isEmpty() ? "" : dir + "/") + base.substring(WHITEOUT.length()));
        } else {
          entries++;
          bytes += steps.extract(tar, e, name, raw);
          created.add(name);
        }
      }
      digested.transferTo(OutputStream.nullOutputStream());
    }
    return new Result(new Digest(HexFormat.of().formatHex(md.digest())), entries, whiteouts, bytes);
  }

  private Result run() throws IOException {
    Result r = walk(blob, this, created);
    if (removed != null) {
      deleteTree(removed);
    }
    List<Map.Entry<Path, FileTime>> dirs = new ArrayList<>(dirTimes.entrySet());
    for (int i = dirs.size() - 1; i >= 0; i--) {
      setTimes(dirs.get(i).getKey(), dirs.get(i).getValue());
    }
    return r;
  }

  /** Entry names without leading "./" or "/" and without a trailing "/"; "" for the root. */
  static String normalise(String name) {
    String n = name;
    while (n.startsWith("./")) {
      n = n.substring(2);
    }
    while (n.startsWith("/")) {
      n = n.substring(1);
    }
    while (n.endsWith("/")) {
      n = n.substring(0, n.length() - 1);
    }
    return n.equals(".") ? "" : n;
  }

  @Override
  public void whiteout(String name) throws IOException {
    outsideRemoved(name);
    prune(RootedPath.resolve(root, name, false), name);
  }

  @Override
  public void opaque(String dir) throws IOException {
    outsideRemoved(dir);
    Path p = RootedPath.resolve(root, dir, true);
    pruneChildren(p, dir);
  }

  /** Removes what lower layers put at {@code p} (tar name {@code name}), keeping this layer's. */
  private void prune(Path p, String name) throws IOException {
    if (!RootedPath.exists(p)) {
      return;
    }
    if (!created.contains(name)) {
      remove(p);
    } else {
      pruneChildren(p, name);
    }
  }

  private void pruneChildren(Path dir, String name) throws IOException {
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      ds.forEach(children::add);
    }
    for (Path c : children) {
      if (c.equals(removed)) {
        continue; // an opaque root: what it removed stays there until the end
      }
      String child = c.getFileName().toString();
      prune(c, name.isEmpty() ? child : name + "/" + child);
    }
  }

  /**
   * Moves {@code p} out of the tree; it is deleted when the whole layer has been applied. A file
   * system without a journal (the convertor's) does not reuse an inode freed in an earlier second
   * than the current one, so an inode freed part way through the layer would be taken by the next
   * file or not depending on whether the clock ticked in between: freed at the end, no inode or
   * block of what the layer removes is taken by what it creates, on a busy machine as on a quiet
   * one.
   */
  private void remove(Path p) throws IOException {
    if (removed == null) {
      removed = root.resolve(".obd-convert-removed");
      for (int i = 1; RootedPath.exists(removed); i++) {
        removed = root.resolve(".obd-convert-removed-" + i);
      }
      Files.createDirectory(removed);
    }
    Files.move(p, removed.resolve(Integer.toString(removedCount++)));
  }

  /** Refuses an entry or whiteout naming the directory {@link #remove} keeps things in. */
  private void outsideRemoved(String name) throws IOException {
    if (removed != null
        && (name.equals(removed.getFileName().toString())
            || name.startsWith(removed.getFileName() + "/"))) {
      throw new IOException(
          "apply layer "
              + blob
              + ": entry "
              + name
              + " lies in "
              + removed.getFileName()
              + ", the directory this conversion made at the layer's first removal to keep what"
              + " it removes until the end");
    }
  }

  @Override
  public long extract(
      TarArchiveInputStream tar, TarArchiveEntry e, String name, Map<String, byte[]> raw)
      throws IOException {
    outsideRemoved(name);
    if (name.isEmpty()) {
      setOwnerAndMode(root, e, false);
      setXattrs(root, e, raw, false);
      dirTimes.put(root, e.getLastModifiedTime());
      return 0;
    }
    int slash = name.lastIndexOf('/');
    Path parent = ensureDirectory(slash < 0 ? "" : name.substring(0, slash));
    Path target = parent.resolve(name.substring(slash + 1));
    boolean exists = RootedPath.exists(target);
    if (exists && !(e.isDirectory() && Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS))) {
      remove(target);
    }
    long bytes = 0;
    if (e.isDirectory()) {
      if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
        Files.createDirectory(target);
      }
    } else if (e.isLink()) {
      Path existing = RootedPath.resolve(root, e.getLinkName(), false);
      if (!RootedPath.exists(existing)) {
        throw badHardLink(blob, name, e.getLinkName(), "no such file");
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
      try (FileChannel ch =
          FileChannel.open(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        // the blocks are allocated now, by this thread, in the order of the tar: left to delayed
        // allocation, the kernel's flusher would place them when memory pressure sends it, so
        // the same layer would land in other blocks from run to run
        Posix.allocate(target, e.getSize());
        bytes = tar.transferTo(Channels.newOutputStream(ch));
      }
    } else {
      throw new IOException("apply layer " + blob + ": entry " + name + " has an unsupported type");
    }
    boolean symlink = e.isSymbolicLink();
    setOwnerAndMode(target, e, symlink);
    setXattrs(target, e, raw, symlink);
    if (e.isDirectory()) {
      dirTimes.put(target, e.getLastModifiedTime());
    } else {
      setTimes(target, e.getLastModifiedTime());
    }
    return bytes;
  }

  /** The error of a hard link entry {@code name} whose target {@code link} is {@code why}. */
  static IOException badHardLink(Path blob, String name, String link, String why) {
    return new IOException(
        "apply layer " + blob + ": hard link " + name + " -> " + link + ": " + why);
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
      created.add(prefix.toString()); // holds entries of this layer: a later whiteout prunes it
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

  private static void setXattrs(Path p, TarArchiveEntry e, Map<String, byte[]> raw, boolean symlink)
      throws IOException {
    for (Map.Entry<String, byte[]> x : entryXattrs(e, raw, symlink).entrySet()) {
      Posix.setXattr(p, x.getKey(), x.getValue());
    }
  }

  /**
   * The extended attributes entry {@code e} gives its file: the raw bytes {@link PaxXattrTap} kept
   * for it, else its PAX {@code SCHILY.xattr.*} headers; none of the {@code user.*} ones on a
   * symlink, which Linux allows none.
   */
  static Map<String, byte[]> entryXattrs(
      TarArchiveEntry e, Map<String, byte[]> raw, boolean symlink) {
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
    if (symlink) {
      xattrs.keySet().removeIf(k -> k.startsWith("user."));
    }
    return xattrs;
  }

  private static void setTimes(Path p, FileTime mtime) throws IOException {
    if (mtime != null) {
      Posix.setTimes(p, mtime);
    }
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
