package dev.obd.image.convert;

import dev.obd.image.erofs.ErofsFormat;
import dev.obd.image.erofs.ErofsNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Applies one OCI layer tar to an in-memory EROFS tree with the semantics of {@link LayerApplier}
 * (whiteouts, opaque directories, replacement, hard links, paths resolved through symlinks inside
 * the root), writing the bytes of the files it adds into the image from a given block on. Needs no
 * mount and no root. A directory whose entries the layer changed without the tar naming it gets
 * {@link Ext4Normalizer#FIXED_TIME}, as the ext4 path's kernel-stamped times become.
 */
final class ErofsLayerApplier implements LayerSteps {
  private static final int MAX_LINKS = 40;

  private final ErofsNode root;
  private final FileChannel image;
  private final long limit;
  private final Path blob;
  private final Set<String> created = new HashSet<>();
  private final Map<ErofsNode, FileTime> dirTimes = new LinkedHashMap<>();
  private final Set<ErofsNode> touched = Collections.newSetFromMap(new IdentityHashMap<>());
  private final ByteBuffer buf = ByteBuffer.allocate(1 << 20);
  private long next;

  /** What applying did, and the first block after the files' bytes. */
  record Result(LayerApplier.Result applied, long nextBlock) {}

  private ErofsLayerApplier(ErofsNode root, FileChannel image, long next, long limit, Path blob) {
    this.root = root;
    this.image = image;
    this.next = next;
    this.limit = limit;
    this.blob = blob;
  }

  /**
   * Applies the layer in {@code blob} to {@code root}, the files' bytes going to {@code image} from
   * block {@code firstFree} on, not past byte {@code limit}.
   */
  static Result apply(ErofsNode root, FileChannel image, long firstFree, long limit, Path blob)
      throws IOException {
    ErofsLayerApplier a = new ErofsLayerApplier(root, image, firstFree, limit, blob);
    LayerApplier.Result r = a.run();
    return new Result(r, a.next);
  }

  private LayerApplier.Result run() throws IOException {
    LayerApplier.Result r = LayerApplier.walk(blob, this, created);
    for (ErofsNode d : touched) {
      d.mtime = Ext4Normalizer.FIXED_TIME;
      d.mtimeNanos = 0;
    }
    for (Map.Entry<ErofsNode, FileTime> t : dirTimes.entrySet()) {
      setTime(t.getKey(), t.getValue());
    }
    return r;
  }

  @Override
  public void opaque(String dir) throws IOException {
    Loc l = resolve(dir, true);
    ErofsNode d = nodeAt(l);
    if (d != null && d.isDirectory()) {
      pruneChildren(d, dir);
    }
  }

  @Override
  public void whiteout(String name) throws IOException {
    prune(resolve(name, false), name);
  }

  /** A name in a directory; the root is the location without a directory. */
  private record Loc(ErofsNode dir, String name) {}

  /** What is at {@code l}: null when nothing is, or when {@code l} is null. */
  private ErofsNode nodeAt(Loc l) {
    return l == null ? null : l.dir() == null ? root : l.dir().children.get(l.name());
  }

  /**
   * Where {@code name} is, every component but the last resolved through symlinks (the last only
   * when {@code followLast}) with the root as {@code /}; null when a directory on the way is
   * missing.
   */
  private Loc resolve(String name, boolean followLast) throws IOException {
    Deque<String> todo = new ArrayDeque<>(RootedPath.split(name));
    List<ErofsNode> path = new ArrayList<>();
    List<String> names = new ArrayList<>();
    int links = 0;
    while (!todo.isEmpty()) {
      String c = todo.pollFirst();
      if (c.equals(".")) {
        continue;
      }
      if (c.equals("..")) {
        if (!path.isEmpty()) {
          path.remove(path.size() - 1);
          names.remove(names.size() - 1);
        }
        continue;
      }
      ErofsNode dir = path.isEmpty() ? root : path.get(path.size() - 1);
      ErofsNode child = dir.children.get(c);
      boolean last = todo.isEmpty();
      if (child != null && child.isSymlink() && (!last || followLast)) {
        if (++links > MAX_LINKS) {
          throw new IOException("resolve " + name + ": too many levels of symbolic links");
        }
        String target = new String(child.linkTarget, StandardCharsets.UTF_8);
        if (target.startsWith("/")) {
          path.clear();
          names.clear();
        }
        List<String> parts = RootedPath.split(target);
        for (int i = parts.size() - 1; i >= 0; i--) {
          todo.addFirst(parts.get(i));
        }
        continue;
      }
      if (last) {
        return new Loc(dir, c);
      }
      if (child == null || !child.isDirectory()) {
        return null;
      }
      path.add(child);
      names.add(c);
    }
    // ended on a directory reached through "..", ".", or a symlink to it
    if (path.isEmpty()) {
      return new Loc(null, "");
    }
    int last = path.size() - 1;
    return new Loc(last == 0 ? root : path.get(last - 1), names.get(last));
  }

  private void prune(Loc l, String name) throws IOException {
    ErofsNode n = nodeAt(l);
    if (n == null) {
      return;
    }
    if (!created.contains(name)) {
      remove(l);
    } else if (n.isDirectory()) {
      pruneChildren(n, name);
    }
  }

  private void pruneChildren(ErofsNode dir, String name) throws IOException {
    for (String child : new ArrayList<>(dir.children.keySet())) {
      prune(new Loc(dir, child), name.isEmpty() ? child : name + "/" + child);
    }
  }

  private void remove(Loc l) throws IOException {
    if (l.dir() == null) {
      throw new IOException("apply layer " + blob + ": a whiteout names the root");
    }
    l.dir().children.remove(l.name());
    touched.add(l.dir());
  }

  @Override
  public long extract(
      TarArchiveInputStream tar, TarArchiveEntry e, String name, Map<String, byte[]> raw)
      throws IOException {
    if (name.isEmpty()) {
      setAttributes(root, e, raw);
      dirTimes.put(root, e.getLastModifiedTime());
      return 0;
    }
    int slash = name.lastIndexOf('/');
    ErofsNode parent = ensureDirectory(slash < 0 ? "" : name.substring(0, slash));
    String base = name.substring(slash + 1);
    ErofsNode existing = parent.children.get(base);
    if (existing != null && !(e.isDirectory() && existing.isDirectory())) {
      parent.children.remove(base);
      existing = null;
    }
    long bytes = 0;
    ErofsNode n;
    if (e.isDirectory()) {
      n = existing != null ? existing : ErofsNode.of(ErofsFormat.S_IFDIR | 0755);
    } else if (e.isLink()) {
      Loc l = resolve(e.getLinkName(), false);
      ErofsNode target = nodeAt(l);
      if (target == null || target.isDirectory()) {
        throw LayerApplier.badHardLink(
            blob, name, e.getLinkName(), target == null ? "no such file" : "a directory");
      }
      parent.children.put(base, target);
      touched.add(parent);
      return 0; // shares the existing inode and its metadata
    } else if (e.isSymbolicLink()) {
      n = ErofsNode.of(ErofsFormat.S_IFLNK | 0777);
      n.linkTarget = e.getLinkName().getBytes(StandardCharsets.UTF_8);
    } else if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
      n =
          ErofsNode.of(
              e.isCharacterDevice()
                  ? ErofsFormat.S_IFCHR
                  : e.isBlockDevice() ? ErofsFormat.S_IFBLK : ErofsFormat.S_IFIFO);
      n.rdevMajor = e.getDevMajor();
      n.rdevMinor = e.getDevMinor();
    } else if (e.isFile()) {
      n = ErofsNode.of(ErofsFormat.S_IFREG);
      bytes = writeData(tar, n, e.getSize(), name);
    } else {
      throw new IOException("apply layer " + blob + ": entry " + name + " has an unsupported type");
    }
    if (n != existing) {
      parent.children.put(base, n);
      touched.add(parent);
    }
    setAttributes(n, e, raw);
    if (n.isDirectory()) {
      dirTimes.put(n, e.getLastModifiedTime());
    } else {
      setTime(n, e.getLastModifiedTime());
    }
    return bytes;
  }

  /** Copies a file's bytes to the image from the next free block on. */
  private long writeData(InputStream in, ErofsNode n, long size, String name) throws IOException {
    long at = next * ErofsFormat.BLOCK;
    long blocks = (size + ErofsFormat.BLOCK - 1) / ErofsFormat.BLOCK;
    if (at + blocks * ErofsFormat.BLOCK > limit) {
      throw new IOException(
          "apply layer "
              + blob
              + ": "
              + name
              + " does not fit in the image's "
              + limit
              + " bytes; convert with a larger --vsize");
    }
    long done = 0;
    while (done < size) {
      buf.clear().limit((int) Math.min(buf.capacity(), size - done));
      int r = in.read(buf.array(), 0, buf.limit());
      if (r < 0) {
        throw new IOException("apply layer " + blob + ": " + name + " ends before its size");
      }
      buf.limit(r);
      while (buf.hasRemaining()) {
        image.write(buf, at + done + buf.position());
      }
      done += r;
    }
    n.size = size;
    n.dataBlock = size == 0 ? 0 : next;
    next += blocks;
    return size;
  }

  /** The directory {@code dir} (a tar name), created with mode 0755 where missing. */
  private ErofsNode ensureDirectory(String dir) throws IOException {
    ErofsNode d = root;
    StringBuilder prefix = new StringBuilder();
    for (String c : RootedPath.split(dir)) {
      if (prefix.length() > 0) {
        prefix.append('/');
      }
      prefix.append(c);
      Loc l = resolve(prefix.toString(), true);
      created.add(prefix.toString()); // holds entries of this layer: a later whiteout prunes it
      ErofsNode n = nodeAt(l);
      if (l == null || n != null && !n.isDirectory()) {
        throw new IOException("apply layer " + blob + ": " + prefix + " is not a directory");
      }
      if (n == null) {
        n = ErofsNode.of(ErofsFormat.S_IFDIR | 0755);
        l.dir().children.put(l.name(), n);
        touched.add(l.dir());
        touched.add(n);
      }
      d = n;
    }
    return d;
  }

  private static void setAttributes(ErofsNode n, TarArchiveEntry e, Map<String, byte[]> raw) {
    n.uid = (int) e.getLongUserId();
    n.gid = (int) e.getLongGroupId();
    if (!n.isSymlink()) {
      n.mode = (n.mode & ErofsFormat.S_IFMT) | (e.getMode() & 07777);
    }
    n.xattrs.putAll(LayerApplier.entryXattrs(e, raw, n.isSymlink()));
  }

  private static void setTime(ErofsNode n, FileTime t) {
    if (t == null) {
      return;
    }
    long nanos = t.to(java.util.concurrent.TimeUnit.NANOSECONDS);
    n.mtime = Math.floorDiv(nanos, 1_000_000_000L);
    n.mtimeNanos = (int) Math.floorMod(nanos, 1_000_000_000L);
  }
}
