package dev.obd.image.convert;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Extended attributes of tar entries as raw bytes. Commons Compress decodes PAX values as UTF-8,
 * which corrupts binary values such as {@code security.capability}; this small walker reads the PAX
 * records of the same stream byte-exactly ({@code SCHILY.xattr.*} as Go's archive/tar and GNU tar
 * write them, {@code LIBARCHIVE.xattr.*} as bsdtar does) and keys them by entry name and
 * occurrence, so the applier can look up the exact bytes of each entry.
 */
final class PaxXattrs {
  private static final int BLOCK = 512;
  private static final String SCHILY = "SCHILY.xattr.";
  private static final String LIBARCHIVE = "LIBARCHIVE.xattr.";

  /** Per normalised entry name, the xattrs of each occurrence in stream order. */
  private final Map<String, List<Map<String, byte[]>>> byName = new HashMap<>();

  private PaxXattrs() {}

  /** Walks a whole (decompressed) tar stream. */
  static PaxXattrs scan(InputStream in) throws IOException {
    PaxXattrs x = new PaxXattrs();
    byte[] h = new byte[BLOCK];
    Map<String, byte[]> pending = new LinkedHashMap<>();
    String pendingPath = null;
    long pendingSize = -1;
    String gnuLong = null;
    while (readBlock(in, h)) {
      if (allZero(h)) {
        continue;
      }
      byte type = h[156];
      long size = number(h, 124, 12);
      if (size < 0) {
        return x; // not a tar header we understand: leave the rest to Commons Compress
      }
      switch (type) {
        case 'x':
          {
            byte[] data = readData(in, size);
            for (Map.Entry<String, byte[]> r : records(data).entrySet()) {
              String k = r.getKey();
              if (k.equals("path")) {
                pendingPath = new String(r.getValue(), StandardCharsets.UTF_8);
              } else if (k.equals("size")) {
                pendingSize = Long.parseLong(new String(r.getValue(), StandardCharsets.US_ASCII));
              } else if (k.startsWith(SCHILY)) {
                pending.put(k.substring(SCHILY.length()), r.getValue());
              } else if (k.startsWith(LIBARCHIVE)) {
                String name =
                    URLDecoder.decode(k.substring(LIBARCHIVE.length()), StandardCharsets.UTF_8);
                pending.put(name, Base64.getDecoder().decode(r.getValue()));
              }
            }
            break;
          }
        case 'L':
          gnuLong = cString(readData(in, size));
          break;
        case 'g':
        case 'K':
          readData(in, size);
          break;
        default:
          {
            String name =
                pendingPath != null ? pendingPath : gnuLong != null ? gnuLong : ustarName(h);
            x.byName.computeIfAbsent(normalise(name), k -> new ArrayList<>()).add(pending);
            long dataSize = pendingSize >= 0 ? pendingSize : size;
            if (type >= '1' && type <= '6') {
              dataSize = 0;
            }
            skip(in, roundUp(dataSize));
            pending = new LinkedHashMap<>();
            pendingPath = null;
            pendingSize = -1;
            gnuLong = null;
          }
      }
    }
    return x;
  }

  /**
   * The raw xattrs of occurrence {@code n} (0-based) of {@code name}, or null when the walker did
   * not see that entry.
   */
  Map<String, byte[]> of(String name, int n) {
    List<Map<String, byte[]>> l = byName.get(normalise(name));
    return l == null || n >= l.size() ? null : l.get(n);
  }

  /** Entry names without leading "./" or "/" and without a trailing "/". */
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

  private static Map<String, byte[]> records(byte[] data) throws IOException {
    Map<String, byte[]> out = new LinkedHashMap<>();
    int pos = 0;
    while (pos < data.length && data[pos] != 0) {
      int sp = pos;
      while (sp < data.length && data[sp] != ' ') {
        sp++;
      }
      int len;
      try {
        len = Integer.parseInt(new String(data, pos, sp - pos, StandardCharsets.US_ASCII));
      } catch (NumberFormatException e) {
        throw new IOException("malformed PAX record length at byte " + pos);
      }
      int end = pos + len;
      if (len <= 0 || end > data.length || data[end - 1] != '\n') {
        throw new IOException("malformed PAX record at byte " + pos);
      }
      int eq = sp + 1;
      while (eq < end && data[eq] != '=') {
        eq++;
      }
      String key = new String(data, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
      byte[] value = java.util.Arrays.copyOfRange(data, Math.min(eq + 1, end - 1), end - 1);
      out.put(key, value);
      pos = end;
    }
    return out;
  }

  private static String ustarName(byte[] h) {
    String name = cString(java.util.Arrays.copyOfRange(h, 0, 100));
    String magic = new String(h, 257, 5, StandardCharsets.US_ASCII);
    if (magic.equals("ustar") && h[263] == '0') {
      String prefix = cString(java.util.Arrays.copyOfRange(h, 345, 500));
      if (!prefix.isEmpty()) {
        return prefix + "/" + name;
      }
    }
    return name;
  }

  private static String cString(byte[] b) {
    int n = 0;
    while (n < b.length && b[n] != 0) {
      n++;
    }
    return new String(b, 0, n, StandardCharsets.UTF_8);
  }

  /** An octal or base-256 numeric field; -1 when malformed. */
  private static long number(byte[] h, int off, int len) {
    if ((h[off] & 0x80) != 0) {
      long v = h[off] & 0x7F;
      for (int i = 1; i < len; i++) {
        v = (v << 8) | (h[off + i] & 0xFF);
      }
      return v;
    }
    int i = off;
    int end = off + len;
    while (i < end && (h[i] == ' ' || h[i] == 0)) {
      i++;
    }
    long v = 0;
    for (; i < end; i++) {
      byte c = h[i];
      if (c == 0 || c == ' ') {
        break;
      }
      if (c < '0' || c > '7') {
        return -1;
      }
      v = (v << 3) | (c - '0');
    }
    return v;
  }

  private static byte[] readData(InputStream in, long size) throws IOException {
    if (size > 16 << 20) {
      throw new IOException("tar extended header of " + size + " bytes is too large");
    }
    byte[] data = in.readNBytes((int) size);
    if (data.length != size) {
      throw new EOFException("tar stream ends inside an extended header");
    }
    skip(in, roundUp(size) - size);
    return data;
  }

  private static boolean readBlock(InputStream in, byte[] h) throws IOException {
    int n = in.readNBytes(h, 0, BLOCK);
    return n == BLOCK;
  }

  private static void skip(InputStream in, long n) throws IOException {
    in.skipNBytes(n);
  }

  private static long roundUp(long n) {
    return (n + BLOCK - 1) / BLOCK * BLOCK;
  }

  private static boolean allZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }
}
