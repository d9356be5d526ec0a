package dev.obd.image.convert;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Base64;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Extended attributes of tar entries as raw bytes, read from the same stream Commons Compress
 * reads. Commons Compress decodes PAX values as UTF-8, which corrupts binary values such as {@code
 * security.capability}; this tap sees every byte on its way to the tar reader, parses the tar
 * headers itself (ustar, PAX {@code x}, GNU long names) and queues each entry's attributes ({@code
 * SCHILY.xattr.*} as Go and GNU tar write them, {@code LIBARCHIVE.xattr.*} as bsdtar does)
 * byte-exactly. When it meets something it does not understand it stops, and callers fall back to
 * the decoded values.
 */
final class PaxXattrTap extends FilterInputStream {
  private static final int BLOCK = 512;
  private static final int MAX_EXTENDED = 16 << 20;
  private static final String SCHILY = "SCHILY.xattr.";
  private static final String LIBARCHIVE = "LIBARCHIVE.xattr.";

  /** A parsed entry header. */
  private record Parsed(String name, Map<String, byte[]> xattrs) {}

  private final Deque<Parsed> parsed = new ArrayDeque<>();
  private final byte[] header = new byte[BLOCK];
  private int headerFill;
  private byte[] extended; // PAX or GNU long-name data being collected
  private int extendedFill;
  private char extendedType;
  private long skip; // bytes of data or padding to pass over
  private boolean broken;
  private Map<String, byte[]> pending = new LinkedHashMap<>();
  private String pendingPath;
  private long pendingSize = -1;
  private String longName;

  PaxXattrTap(InputStream in) {
    super(in);
  }

  /**
   * The raw xattrs of the next entry named {@code name} (normalised), or null when the tap could
   * not follow the stream.
   */
  Map<String, byte[]> take(String name) {
    while (!parsed.isEmpty()) {
      Parsed p = parsed.pollFirst();
      if (p.name.equals(name)) {
        return p.xattrs;
      }
    }
    return null;
  }

  @Override
  public int read() throws IOException {
    int b = in.read();
    if (b >= 0) {
      feed(new byte[] {(byte) b}, 0, 1);
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n > 0) {
      feed(b, off, n);
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    byte[] buf = new byte[(int) Math.min(n, 64 * 1024)];
    long done = 0;
    while (done < n) {
      int r = read(buf, 0, (int) Math.min(buf.length, n - done));
      if (r < 0) {
        break;
      }
      done += r;
    }
    return done;
  }

  @Override
  public boolean markSupported() {
    return false; // every byte must pass through feed exactly once
  }

  private void feed(byte[] b, int off, int len) {
    int i = off;
    int end = off + len;
    while (i < end && !broken) {
      if (skip > 0) {
        int k = (int) Math.min(skip, end - i);
        skip -= k;
        i += k;
      } else if (extended != null) {
        int k = Math.min(extended.length - extendedFill, end - i);
        System.arraycopy(b, i, extended, extendedFill, k);
        extendedFill += k;
        i += k;
        if (extendedFill == extended.length) {
          finishExtended();
        }
      } else {
        int k = Math.min(BLOCK - headerFill, end - i);
        System.arraycopy(b, i, header, headerFill, k);
        headerFill += k;
        i += k;
        if (headerFill == BLOCK) {
          headerFill = 0;
          onHeader();
        }
      }
    }
  }

  private void onHeader() {
    if (allZero(header)) {
      return;
    }
    char type = (char) header[156];
    long size = number(header, 124, 12);
    if (size < 0) {
      broken = true;
      return;
    }
    switch (type) {
      case 'x':
      case 'L':
        if (size > MAX_EXTENDED) {
          broken = true;
          return;
        }
        extended = new byte[(int) size];
        extendedFill = 0;
        extendedType = type;
        if (size == 0) {
          finishExtended();
        }
        return;
      case 'g':
      case 'K':
        skip = roundUp(size);
        return;
      default:
        String name = pendingPath != null ? pendingPath : longName != null ? longName : ustarName();
        parsed.addLast(new Parsed(LayerApplier.normalise(name), pending));
        long data = pendingSize >= 0 ? pendingSize : size;
        if (type >= '1' && type <= '6') {
          data = 0; // links, devices, directories and FIFOs carry no data
        }
        skip = roundUp(data);
        pending = new LinkedHashMap<>();
        pendingPath = null;
        pendingSize = -1;
        longName = null;
    }
  }

  private void finishExtended() {
    byte[] data = extended;
    extended = null;
    skip = roundUp(data.length) - data.length;
    if (extendedType == 'L') {
      longName = cString(data, 0, data.length);
      return;
    }
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
        broken = true;
        return;
      }
      int end = pos + len;
      if (len <= 0 || end > data.length || data[end - 1] != '\n') {
        broken = true;
        return;
      }
      int eq = sp + 1;
      while (eq < end && data[eq] != '=') {
        eq++;
      }
      String key = new String(data, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
      byte[] value = Arrays.copyOfRange(data, Math.min(eq + 1, end - 1), end - 1);
      try {
        if (key.equals("path")) {
          pendingPath = new String(value, StandardCharsets.UTF_8);
        } else if (key.equals("size")) {
          pendingSize = Long.parseLong(new String(value, StandardCharsets.US_ASCII));
        } else if (key.startsWith(SCHILY)) {
          pending.put(key.substring(SCHILY.length()), value);
        } else if (key.startsWith(LIBARCHIVE)) {
          String name =
              URLDecoder.decode(key.substring(LIBARCHIVE.length()), StandardCharsets.UTF_8);
          pending.put(name, Base64.getDecoder().decode(value));
        }
      } catch (IllegalArgumentException e) {
        broken = true;
        return;
      }
      pos = end;
    }
  }

  private String ustarName() {
    String name = cString(header, 0, 100);
    boolean ustar = new String(header, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
    if (ustar && header[263] == '0') {
      String prefix = cString(header, 345, 155);
      if (!prefix.isEmpty()) {
        return prefix + "/" + name;
      }
    }
    return name;
  }

  private static String cString(byte[] b, int off, int max) {
    int n = 0;
    while (n < max && b[off + n] != 0) {
      n++;
    }
    return new String(b, off, n, StandardCharsets.UTF_8);
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
