package dev.obd.image.convert;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes tar archives for tests, byte by byte and independently of the code under test: ustar
 * headers, PAX extended headers with raw (binary-safe) records, every entry type a layer uses.
 */
final class TarBuilder {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();

  /** One entry's metadata. */
  static final class Entry {
    final String name;
    char type = '0';
    int mode = 0644;
    int uid;
    int gid;
    long mtime = 1_600_000_000L;
    String link = "";
    int major;
    int minor;
    byte[] data = new byte[0];
    final Map<String, byte[]> xattrs = new LinkedHashMap<>();

    Entry(String name) {
      this.name = name;
    }

    Entry type(char t) {
      type = t;
      return this;
    }

    Entry mode(int m) {
      mode = m;
      return this;
    }

    Entry owner(int u, int g) {
      uid = u;
      gid = g;
      return this;
    }

    Entry link(String l) {
      link = l;
      return this;
    }

    Entry dev(int ma, int mi) {
      major = ma;
      minor = mi;
      return this;
    }

    Entry data(byte[] d) {
      data = d;
      return this;
    }

    Entry xattr(String k, byte[] v) {
      xattrs.put(k, v);
      return this;
    }
  }

  TarBuilder add(Entry e) {
    boolean longName = e.name.getBytes(StandardCharsets.UTF_8).length > 99;
    boolean longLink = e.link.getBytes(StandardCharsets.UTF_8).length > 99;
    if (!e.xattrs.isEmpty() || longName || longLink) {
      ByteArrayOutputStream pax = new ByteArrayOutputStream();
      if (longName) {
        pax.writeBytes(record("path", e.name.getBytes(StandardCharsets.UTF_8)));
      }
      if (longLink) {
        pax.writeBytes(record("linkpath", e.link.getBytes(StandardCharsets.UTF_8)));
      }
      for (Map.Entry<String, byte[]> x : e.xattrs.entrySet()) {
        pax.writeBytes(record("SCHILY.xattr." + x.getKey(), x.getValue()));
      }
      byte[] p = pax.toByteArray();
      header("PaxHeaders/x", 'x', 0644, 0, 0, p.length, 0, "", 0, 0);
      body(p);
    }
    String n = longName ? e.name.substring(0, 99) : e.name;
    long size = e.type == '0' ? e.data.length : 0;
    String l = longLink ? e.link.substring(0, 99) : e.link;
    header(n, e.type, e.mode, e.uid, e.gid, size, e.mtime, l, e.major, e.minor);
    if (size > 0) {
      body(e.data);
    }
    return this;
  }

  byte[] finish() {
    out.writeBytes(new byte[1024]);
    return out.toByteArray();
  }

  private static byte[] record(String key, byte[] value) {
    byte[] k = key.getBytes(StandardCharsets.UTF_8);
    int body = 1 + k.length + 1 + value.length + 1; // " key=value\n"
    int len = body + 1;
    while (String.valueOf(len).length() + body != len) {
      len++;
    }
    ByteArrayOutputStream r = new ByteArrayOutputStream();
    r.writeBytes((len + " ").getBytes(StandardCharsets.US_ASCII));
    r.writeBytes(k);
    r.write('=');
    r.writeBytes(value);
    r.write('\n');
    return r.toByteArray();
  }

  private void header(
      String name,
      char type,
      int mode,
      int uid,
      int gid,
      long size,
      long mtime,
      String link,
      int major,
      int minor) {
    byte[] h = new byte[512];
    put(h, 0, name, 100);
    octal(h, 100, 8, mode);
    octal(h, 108, 8, uid);
    octal(h, 116, 8, gid);
    octal(h, 124, 12, size);
    octal(h, 136, 12, mtime);
    h[156] = (byte) type;
    put(h, 157, link, 100);
    put(h, 257, "ustar", 6);
    h[263] = '0';
    h[264] = '0';
    octal(h, 329, 8, major);
    octal(h, 337, 8, minor);
    Arrays.fill(h, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xFF;
    }
    octal(h, 148, 7, sum);
    out.writeBytes(h);
  }

  private void body(byte[] d) {
    out.writeBytes(d);
    int pad = (512 - d.length % 512) % 512;
    out.writeBytes(new byte[pad]);
  }

  private static void put(byte[] h, int off, String s, int max) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(b, 0, h, off, Math.min(b.length, max));
  }

  private static void octal(byte[] h, int off, int len, long v) {
    String s = Long.toOctalString(v);
    s = "0".repeat(Math.max(0, len - 1 - s.length())) + s;
    put(h, off, s, len - 1);
    h[off + len - 1] = 0;
  }
}
