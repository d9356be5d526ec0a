package dev.obd.image.erofs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the metadata of an EROFS tree into an image and reads it back. An OverlayBD layer of an
 * EROFS image appends: the bytes of the files it adds follow the blocks of the image below, then
 * come the directories and inodes of the whole merged tree, and the superblock in block 0 points at
 * them. Files the layer leaves alone keep their blocks, so the layer holds only what is new and the
 * metadata; the earlier metadata stays unused in the lower layers, as with {@code mkfs.erofs
 * --incremental}. The same tree and first free block always give the same bytes.
 */
public final class ErofsImage {
  private static final int NAME_MAX = 255;
  private static final long ROOT_NID = 1;

  private ErofsImage() {}

  /** What {@link #read} found: the tree, and the first block after the image. */
  public record Read(ErofsNode root, long blocks) {}

  /**
   * Writes directories and inodes of the tree at {@code root} from block {@code firstFree} on, and
   * the superblock. Returns the image's size in blocks.
   */
  public static long write(FileChannel ch, ErofsNode root, long firstFree) throws IOException {
    if (!root.isDirectory()) {
      throw new IOException("the root of an EROFS tree must be a directory");
    }
    // every inode once, parents before children, children in name order
    List<ErofsNode> order = new ArrayList<>();
    Map<ErofsNode, ErofsNode> parent = new IdentityHashMap<>();
    Map<ErofsNode, Integer> links = new IdentityHashMap<>();
    Deque<ErofsNode> todo = new ArrayDeque<>();
    parent.put(root, root);
    todo.push(root);
    while (!todo.isEmpty()) {
      ErofsNode dir = todo.pop();
      order.add(dir);
      List<ErofsNode> subdirs = new ArrayList<>();
      for (Map.Entry<String, ErofsNode> e : dir.children.entrySet()) {
        ErofsNode c = e.getValue();
        if (c.isDirectory()) {
          if (parent.containsKey(c)) {
            throw new IOException("directory " + e.getKey() + " appears twice in the tree");
          }
          parent.put(c, dir);
          subdirs.add(c);
        } else if (links.merge(c, 1, Integer::sum) == 1) {
          order.add(c);
        }
      }
      links.put(dir, 2 + subdirs.size());
      for (int i = subdirs.size() - 1; i >= 0; i--) {
        todo.push(subdirs.get(i));
      }
    }

    // directory (and long symlink) blocks first, then the inodes
    long next = firstFree;
    Map<ErofsNode, List<List<Entry>>> dirBlocks = new IdentityHashMap<>();
    Map<ErofsNode, Long> block = new IdentityHashMap<>();
    Map<ErofsNode, Long> sizes = new IdentityHashMap<>();
    Map<ErofsNode, byte[]> xattrs = new IdentityHashMap<>();
    for (ErofsNode n : order) {
      byte[] x = encodeXattrs(n);
      xattrs.put(n, x);
      if (n.isDirectory()) {
        List<List<Entry>> blocks = packDirectory(n, parent.get(n));
        dirBlocks.put(n, blocks);
        block.put(n, next);
        next += blocks.size();
        List<Entry> last = blocks.get(blocks.size() - 1);
        sizes.put(n, (long) (blocks.size() - 1) * ErofsFormat.BLOCK + used(last));
      } else if (n.isSymlink()) {
        sizes.put(n, (long) n.linkTarget.length);
        if (!inlineFits(n, x)) {
          block.put(n, next);
          next += blocksFor(n.linkTarget.length);
        }
      } else if (n.isRegularFile()) {
        sizes.put(n, n.size);
      } else {
        sizes.put(n, 0L);
      }
    }
    long metaBlock = next;
    Map<ErofsNode, Long> nids = new IdentityHashMap<>();
    // the kernel takes a nid as the inode number, and readdir callers skip entries of inode 0:
    // the first slot stays empty, the root is nid 1
    long pos = ErofsFormat.INODE_SLOT;
    for (ErofsNode n : order) {
      int slot = ErofsFormat.EXTENDED_INODE + xattrs.get(n).length;
      if (n.isSymlink() && !block.containsKey(n)) {
        slot += n.linkTarget.length;
      }
      pos = (pos + ErofsFormat.INODE_SLOT - 1) / ErofsFormat.INODE_SLOT * ErofsFormat.INODE_SLOT;
      // an inode, its attributes and inline data in one block where they fit one
      if (pos % ErofsFormat.BLOCK + slot > ErofsFormat.BLOCK && slot <= ErofsFormat.BLOCK) {
        pos = (pos / ErofsFormat.BLOCK + 1) * ErofsFormat.BLOCK;
      }
      nids.put(n, pos / ErofsFormat.INODE_SLOT);
      pos += slot;
    }
    if (nids.get(root) != ROOT_NID) {
      throw new IllegalStateException("the root inode must come first");
    }
    long metaBlocks = blocksFor(pos);
    long total = metaBlock + metaBlocks;
    if (total > 0xFFFFFFFFL) {
      throw new IOException("an EROFS image of " + total + " blocks is too large");
    }

    for (ErofsNode n : order) {
      if (n.isDirectory()) {
        writeDirectory(ch, dirBlocks.get(n), nids, block.get(n));
      } else if (n.isSymlink() && block.containsKey(n)) {
        writeFully(ch, ByteBuffer.wrap(n.linkTarget), block.get(n) * ErofsFormat.BLOCK);
      }
    }
    ByteBuffer meta =
        ByteBuffer.allocate(Math.toIntExact(metaBlocks * ErofsFormat.BLOCK))
            .order(ByteOrder.LITTLE_ENDIAN);
    int ino = 1;
    for (ErofsNode n : order) {
      int at = Math.toIntExact(nids.get(n) * ErofsFormat.INODE_SLOT);
      boolean inline = n.isSymlink() && !block.containsKey(n);
      long iu;
      if (n.isDevice()) {
        iu = ErofsFormat.encodeDev(n.rdevMajor, n.rdevMinor) & 0xFFFFFFFFL;
      } else if (n.isRegularFile()) {
        iu = n.size == 0 ? 0 : n.dataBlock;
      } else {
        iu = block.getOrDefault(n, 0L);
      }
      byte[] x = xattrs.get(n);
      meta.putShort(
          at,
          (short)
              (1 | (inline ? ErofsFormat.LAYOUT_FLAT_INLINE : ErofsFormat.LAYOUT_FLAT_PLAIN) << 1));
      meta.putShort(
          at + 2, (short) (x.length == 0 ? 0 : (x.length - ErofsFormat.XATTR_HEADER) / 4 + 1));
      meta.putShort(at + 4, (short) n.mode);
      meta.putLong(at + 8, sizes.get(n));
      meta.putInt(at + 16, (int) iu);
      meta.putInt(at + 20, ino++);
      meta.putInt(at + 24, n.uid);
      meta.putInt(at + 28, n.gid);
      meta.putLong(at + 32, n.mtime);
      meta.putInt(at + 40, n.mtimeNanos);
      meta.putInt(at + 44, links.get(n));
      meta.put(at + ErofsFormat.EXTENDED_INODE, x);
      if (inline) {
        meta.put(at + ErofsFormat.EXTENDED_INODE + x.length, n.linkTarget);
      }
    }
    writeFully(ch, meta.rewind(), metaBlock * ErofsFormat.BLOCK);

    ByteBuffer sb = ByteBuffer.allocate(ErofsFormat.BLOCK).order(ByteOrder.LITTLE_ENDIAN);
    int s = ErofsFormat.SUPERBLOCK_OFFSET;
    sb.putInt(s, ErofsFormat.MAGIC);
    sb.put(s + 12, (byte) ErofsFormat.BLOCK_BITS);
    sb.putShort(s + 14, (short) ROOT_NID);
    sb.putLong(s + 16, order.size()); // inos
    sb.putInt(s + 36, (int) total); // blocks
    sb.putInt(s + 40, (int) metaBlock);
    writeFully(ch, sb, 0);
    return total;
  }

  /** One directory entry: name and inode. */
  private record Entry(byte[] name, ErofsNode node) {}

  /** The sorted entries of {@code dir} (with . and ..) cut into blocks. */
  private static List<List<Entry>> packDirectory(ErofsNode dir, ErofsNode parent)
      throws IOException {
    List<Entry> all = new ArrayList<>();
    all.add(new Entry(new byte[] {'.'}, dir));
    all.add(new Entry(new byte[] {'.', '.'}, parent));
    for (Map.Entry<String, ErofsNode> e : dir.children.entrySet()) {
      byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
      if (name.length == 0 || name.length > NAME_MAX) {
        throw new IOException("a name of " + name.length + " bytes cannot be stored in EROFS");
      }
      all.add(new Entry(name, e.getValue()));
    }
    all.sort(Comparator.comparing(Entry::name, Arrays::compareUnsigned));
    List<List<Entry>> blocks = new ArrayList<>();
    List<Entry> cur = new ArrayList<>();
    int used = 0;
    for (Entry e : all) {
      int need = ErofsFormat.DIRENT + e.name().length;
      if (used + need > ErofsFormat.BLOCK) {
        blocks.add(cur);
        cur = new ArrayList<>();
        used = 0;
      }
      cur.add(e);
      used += need;
    }
    blocks.add(cur);
    return blocks;
  }

  private static int used(List<Entry> block) {
    int n = 0;
    for (Entry e : block) {
      n += ErofsFormat.DIRENT + e.name().length;
    }
    return n;
  }

  private static void writeDirectory(
      FileChannel ch, List<List<Entry>> blocks, Map<ErofsNode, Long> nids, long first)
      throws IOException {
    ByteBuffer b =
        ByteBuffer.allocate(blocks.size() * ErofsFormat.BLOCK).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < blocks.size(); i++) {
      List<Entry> entries = blocks.get(i);
      int base = i * ErofsFormat.BLOCK;
      int nameOff = entries.size() * ErofsFormat.DIRENT;
      for (int j = 0; j < entries.size(); j++) {
        Entry e = entries.get(j);
        int d = base + j * ErofsFormat.DIRENT;
        b.putLong(d, nids.get(e.node()));
        b.putShort(d + 8, (short) nameOff);
        b.put(d + 10, (byte) ErofsFormat.fileType(e.node().mode));
        b.put(base + nameOff, e.name());
        nameOff += e.name().length;
      }
    }
    writeFully(ch, b, first * ErofsFormat.BLOCK);
  }

  /** The inline attribute area of {@code n}: header and entries, or nothing. */
  private static byte[] encodeXattrs(ErofsNode n) throws IOException {
    if (n.xattrs.isEmpty()) {
      return new byte[0];
    }
    record X(int index, byte[] suffix, byte[] value) {}
    List<X> xs = new ArrayList<>();
    int size = ErofsFormat.XATTR_HEADER;
    for (Map.Entry<String, byte[]> e : n.xattrs.entrySet()) {
      int index = ErofsFormat.xattrIndex(e.getKey());
      byte[] suffix = ErofsFormat.xattrSuffix(e.getKey(), index).getBytes(StandardCharsets.UTF_8);
      if (suffix.length > NAME_MAX || e.getValue().length > 0xFFFF) {
        throw new IOException("extended attribute " + e.getKey() + " is too long for EROFS");
      }
      xs.add(new X(index, suffix, e.getValue()));
      size += (4 + suffix.length + e.getValue().length + 3) / 4 * 4;
    }
    xs.sort(Comparator.comparingInt(X::index).thenComparing(X::suffix, Arrays::compareUnsigned));
    if ((size - ErofsFormat.XATTR_HEADER) / 4 + 1 > 0xFFFF) {
      throw new IOException("the extended attributes of one file are too large for EROFS");
    }
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    b.position(ErofsFormat.XATTR_HEADER);
    for (X x : xs) {
      int start = b.position();
      b.put((byte) x.suffix().length);
      b.put((byte) x.index());
      b.putShort((short) x.value().length);
      b.put(x.suffix());
      b.put(x.value());
      b.position(start + (4 + x.suffix().length + x.value().length + 3) / 4 * 4);
    }
    return b.array();
  }

  private static boolean inlineFits(ErofsNode n, byte[] xattrs) {
    return ErofsFormat.EXTENDED_INODE + xattrs.length + n.linkTarget.length <= ErofsFormat.BLOCK;
  }

  private static long blocksFor(long bytes) {
    return (bytes + ErofsFormat.BLOCK - 1) / ErofsFormat.BLOCK;
  }

  /**
   * Reads the tree of the EROFS image in {@code ch}, as {@link #write} writes it (extended inodes,
   * inline attributes, flat file data); other EROFS images are refused with the reason.
   */
  public static Read read(FileChannel ch) throws IOException {
    ByteBuffer sb = readAt(ch, ErofsFormat.SUPERBLOCK_OFFSET, 128);
    if (sb.getInt(0) != ErofsFormat.MAGIC) {
      throw new IOException("no EROFS superblock at byte 1024");
    }
    if (sb.get(12) != ErofsFormat.BLOCK_BITS) {
      throw new IOException("EROFS block size 2^" + sb.get(12) + ", not 4096");
    }
    if (sb.getInt(80) != 0 || sb.get(13) != 0) {
      throw new IOException(
          "the EROFS image uses features (incompat 0x"
              + Integer.toHexString(sb.getInt(80))
              + ") an OverlayBD conversion does not write");
    }
    Reader r = new Reader(ch, (sb.getInt(40) & 0xFFFFFFFFL) * ErofsFormat.BLOCK);
    long blocks = sb.getInt(36) & 0xFFFFFFFFL;
    ErofsNode root = r.node(sb.getShort(14) & 0xFFFF);
    if (!root.isDirectory()) {
      throw new IOException("the EROFS root inode is not a directory");
    }
    return new Read(root, blocks);
  }

  private static final class Reader {
    private final FileChannel ch;
    private final long meta;
    private final Map<Long, ErofsNode> byNid = new HashMap<>();

    Reader(FileChannel ch, long meta) {
      this.ch = ch;
      this.meta = meta;
    }

    /** The node of inode {@code nid} with everything below it. */
    ErofsNode node(long root) throws IOException {
      Deque<Object[]> todo = new ArrayDeque<>();
      ErofsNode r = inode(root, todo);
      while (!todo.isEmpty()) {
        Object[] t = todo.pop();
        ErofsNode dir = (ErofsNode) t[0];
        for (Map.Entry<String, Long> e : entries((long) t[1], (ByteBuffer) t[2]).entrySet()) {
          ErofsNode c = byNid.get(e.getValue());
          if (c == null) {
            c = inode(e.getValue(), todo);
          } else if (c.isDirectory()) {
            throw new IOException("EROFS directory inode " + e.getValue() + " is linked twice");
          }
          dir.children.put(e.getKey(), c);
        }
      }
      return r;
    }

    /** Parses inode {@code nid}; a directory's entries are queued on {@code todo}. */
    private ErofsNode inode(long nid, Deque<Object[]> todo) throws IOException {
      long at = meta + nid * ErofsFormat.INODE_SLOT;
      ByteBuffer h = readAt(ch, at, ErofsFormat.EXTENDED_INODE);
      int format = h.getShort(0) & 0xFFFF;
      if ((format & 1) == 0) {
        throw new IOException(
            "EROFS inode " + nid + " is compact; an OverlayBD conversion writes extended inodes");
      }
      int layout = (format >> 1) & 7;
      if (layout != ErofsFormat.LAYOUT_FLAT_PLAIN && layout != ErofsFormat.LAYOUT_FLAT_INLINE) {
        throw new IOException("EROFS inode " + nid + " has data layout " + layout);
      }
      int icount = h.getShort(2) & 0xFFFF;
      ErofsNode n;
      try {
        n = ErofsNode.of(h.getShort(4) & 0xFFFF);
      } catch (IllegalArgumentException e) {
        throw new IOException("EROFS inode " + nid + ": " + e.getMessage(), e);
      }
      long size = h.getLong(8);
      long iu = h.getInt(16) & 0xFFFFFFFFL;
      n.uid = h.getInt(24);
      n.gid = h.getInt(28);
      n.mtime = h.getLong(32);
      n.mtimeNanos = h.getInt(40);
      int xattrSize = icount == 0 ? 0 : ErofsFormat.XATTR_HEADER + 4 * (icount - 1);
      if (xattrSize > 0) {
        readXattrs(n, readAt(ch, at + ErofsFormat.EXTENDED_INODE, xattrSize), nid);
      }
      long inlineAt = at + ErofsFormat.EXTENDED_INODE + xattrSize;
      byNid.put(nid, n);
      if (n.isDirectory()) {
        todo.push(new Object[] {n, size, data(nid, layout, size, iu, inlineAt)});
      } else if (n.isSymlink()) {
        n.linkTarget = data(nid, layout, size, iu, inlineAt).array();
      } else if (n.isRegularFile()) {
        if (layout != ErofsFormat.LAYOUT_FLAT_PLAIN && size % ErofsFormat.BLOCK != 0) {
          throw new IOException(
              "EROFS file inode " + nid + " keeps its tail inline, which a layer cannot carry on");
        }
        n.size = size;
        n.dataBlock = iu;
      } else if (n.isDevice()) {
        n.rdevMajor = ErofsFormat.devMajor((int) iu);
        n.rdevMinor = ErofsFormat.devMinor((int) iu);
      }
      return n;
    }

    /** An inode's whole data: its blocks and, inline, its tail. */
    private ByteBuffer data(long nid, int layout, long size, long block, long inlineAt)
        throws IOException {
      if (size > 16 << 20) {
        throw new IOException("EROFS inode " + nid + " holds " + size + " bytes of metadata");
      }
      int n = (int) size;
      boolean inline = layout == ErofsFormat.LAYOUT_FLAT_INLINE;
      int full = inline ? n / ErofsFormat.BLOCK * ErofsFormat.BLOCK : n;
      ByteBuffer out = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
      if (full > 0) {
        out.put(readAt(ch, block * ErofsFormat.BLOCK, full));
      }
      if (n > full) {
        out.put(readAt(ch, inlineAt, n - full));
      }
      return out.rewind();
    }

    private static void readXattrs(ErofsNode n, ByteBuffer x, long nid) throws IOException {
      if (x.get(4) != 0) {
        throw new IOException("EROFS inode " + nid + " has shared extended attributes");
      }
      int p = ErofsFormat.XATTR_HEADER;
      while (p + 4 <= x.capacity()) {
        int nameLen = x.get(p) & 0xFF;
        int index = x.get(p + 1) & 0xFF;
        int valueLen = x.getShort(p + 2) & 0xFFFF;
        if (p + 4 + nameLen + valueLen > x.capacity()) {
          throw new IOException("EROFS inode " + nid + ": an extended attribute overruns its area");
        }
        byte[] name = new byte[nameLen];
        byte[] value = new byte[valueLen];
        x.get(p + 4, name);
        x.get(p + 4 + nameLen, value);
        n.xattrs.put(ErofsFormat.xattrName(index, new String(name, StandardCharsets.UTF_8)), value);
        p += (4 + nameLen + valueLen + 3) / 4 * 4;
      }
    }

    /** The entries of a directory's data, without . and .., by name. */
    private static Map<String, Long> entries(long size, ByteBuffer data) throws IOException {
      Map<String, Long> out = new LinkedHashMap<>();
      for (long start = 0; start < size; start += ErofsFormat.BLOCK) {
        int base = (int) start;
        int max = (int) Math.min(ErofsFormat.BLOCK, size - start);
        int first = data.getShort(base + 8) & 0xFFFF;
        if (first < ErofsFormat.DIRENT || first >= max || first % ErofsFormat.DIRENT != 0) {
          throw new IOException("an EROFS directory block starts with name offset " + first);
        }
        int count = first / ErofsFormat.DIRENT;
        for (int i = 0; i < count; i++) {
          int d = base + i * ErofsFormat.DIRENT;
          long nid = data.getLong(d);
          int off = data.getShort(d + 8) & 0xFFFF;
          int end = i + 1 < count ? data.getShort(d + ErofsFormat.DIRENT + 8) & 0xFFFF : max;
          if (off < first || end > max || end < off) {
            throw new IOException("an EROFS directory entry's name lies outside its block");
          }
          while (end > off && data.get(base + end - 1) == 0) {
            end--;
          }
          byte[] name = new byte[end - off];
          data.get(base + off, name);
          String s = new String(name, StandardCharsets.UTF_8);
          if (!s.equals(".") && !s.equals("..")) {
            out.put(s, nid);
          }
        }
      }
      return out;
    }
  }

  private static ByteBuffer readAt(FileChannel ch, long at, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    while (b.hasRemaining()) {
      int k = ch.read(b, at + b.position());
      if (k < 0) {
        // past the end of a sparse image file the disk reads as zeros
        break;
      }
    }
    return b.rewind();
  }

  private static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b, at + b.position());
    }
  }
}
