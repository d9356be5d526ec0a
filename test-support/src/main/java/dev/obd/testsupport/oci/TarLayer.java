package dev.obd.testsupport.oci;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/**
 * One image layer as the tests write it: an ordered list of tar entries, including OCI whiteouts
 * ({@code .wh.<name>}) and opaque markers ({@code .wh..wh..opq}), serialized the way image builders
 * do (PAX headers for xattrs and long names).
 */
public final class TarLayer {

  /** What kind of file an entry creates. */
  public enum Type {
    DIR(0040000),
    FILE(0100000),
    SYMLINK(0120000),
    HARDLINK(0100000),
    CHAR_DEVICE(0020000),
    BLOCK_DEVICE(0060000),
    FIFO(0010000);

    private final int modeBits;

    Type(int modeBits) {
      this.modeBits = modeBits;
    }

    /** The file-type bits of st_mode ({@code S_IFDIR} and so on); a hard link is a regular file. */
    public int modeBits() {
      return modeBits;
    }
  }

  /** One tar entry. {@code link} is a symlink's target or a hard link's path. */
  public record Entry(
      String path,
      Type type,
      int mode,
      int uid,
      int gid,
      byte[] content,
      String link,
      int major,
      int minor,
      Map<String, String> xattrs) {

    public Entry withOwner(int newUid, int newGid) {
      return new Entry(path, type, mode, newUid, newGid, content, link, major, minor, xattrs);
    }

    public Entry withXattr(String name, String value) {
      Map<String, String> x = new LinkedHashMap<>(xattrs);
      x.put(name, value);
      return new Entry(path, type, mode, uid, gid, content, link, major, minor, x);
    }
  }

  private final List<Entry> entries = new ArrayList<>();

  public List<Entry> entries() {
    return List.copyOf(entries);
  }

  public TarLayer add(Entry e) {
    entries.add(e);
    return this;
  }

  public TarLayer dir(String path, int mode) {
    return add(new Entry(path, Type.DIR, mode, 0, 0, new byte[0], null, 0, 0, Map.of()));
  }

  public TarLayer file(String path, int mode, byte[] content) {
    return add(new Entry(path, Type.FILE, mode, 0, 0, content, null, 0, 0, Map.of()));
  }

  public TarLayer file(String path, int mode, String content) {
    return file(path, mode, content.getBytes(StandardCharsets.UTF_8));
  }

  public TarLayer symlink(String path, String target) {
    return add(new Entry(path, Type.SYMLINK, 0777, 0, 0, new byte[0], target, 0, 0, Map.of()));
  }

  /**
   * A hard link to {@code existing}, an earlier entry of this layer. Its header carries the
   * target's mode and owner, as tar(1) writes it (containerd applies a link header's mode to the
   * shared inode).
   */
  public TarLayer hardlink(String path, String existing) {
    Entry target =
        entries.stream()
            .filter(e -> e.path().equals(existing))
            .reduce((a, b) -> b)
            .orElseThrow(() -> new IllegalArgumentException(existing + " is not in this layer"));
    return add(
        new Entry(
            path,
            Type.HARDLINK,
            target.mode(),
            target.uid(),
            target.gid(),
            new byte[0],
            existing,
            0,
            0,
            Map.of()));
  }

  public TarLayer charDevice(String path, int mode, int major, int minor) {
    return add(
        new Entry(path, Type.CHAR_DEVICE, mode, 0, 0, new byte[0], null, major, minor, Map.of()));
  }

  public TarLayer fifo(String path, int mode) {
    return add(new Entry(path, Type.FIFO, mode, 0, 0, new byte[0], null, 0, 0, Map.of()));
  }

  /** Deletes {@code path} (and what is below it) of lower layers. */
  public TarLayer whiteout(String path) {
    int slash = path.lastIndexOf('/');
    String name =
        slash < 0
            ? ".wh." + path
            : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
    return file(name, 0644, new byte[0]);
  }

  /** Hides everything lower layers put in directory {@code dir}. */
  public TarLayer opaque(String dir) {
    return file(dir + "/.wh..wh..opq", 0644, new byte[0]);
  }

  /** The uncompressed tar. */
  public byte[] tar() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(bytes)) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
      for (Entry e : entries) {
        TarArchiveEntry t = toTar(e);
        out.putArchiveEntry(t);
        if (e.type() == Type.FILE) {
          out.write(e.content());
        }
        out.closeArchiveEntry();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  private static TarArchiveEntry toTar(Entry e) {
    TarArchiveEntry t =
        switch (e.type()) {
          case DIR -> new TarArchiveEntry(e.path() + "/", TarConstants.LF_DIR);
          case FILE -> new TarArchiveEntry(e.path(), TarConstants.LF_NORMAL);
          case SYMLINK -> new TarArchiveEntry(e.path(), TarConstants.LF_SYMLINK);
          case HARDLINK -> new TarArchiveEntry(e.path(), TarConstants.LF_LINK);
          case CHAR_DEVICE -> new TarArchiveEntry(e.path(), TarConstants.LF_CHR);
          case BLOCK_DEVICE -> new TarArchiveEntry(e.path(), TarConstants.LF_BLK);
          case FIFO -> new TarArchiveEntry(e.path(), TarConstants.LF_FIFO);
        };
    t.setMode(e.type().modeBits() | e.mode());
    t.setIds(e.uid(), e.gid());
    t.setModTime(1_700_000_000_000L);
    if (e.type() == Type.FILE) {
      t.setSize(e.content().length);
    }
    if (e.link() != null) {
      t.setLinkName(e.link());
    }
    if (e.type() == Type.CHAR_DEVICE || e.type() == Type.BLOCK_DEVICE) {
      t.setDevMajor(e.major());
      t.setDevMinor(e.minor());
    }
    e.xattrs().forEach((k, v) -> t.addPaxHeader("SCHILY.xattr." + k, v));
    return t;
  }

  public static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  public static String sha256(byte[] data) {
    try {
      return "sha256:"
          + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
