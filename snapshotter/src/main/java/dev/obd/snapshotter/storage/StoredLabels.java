package dev.obd.snapshotter.storage;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The labels of one snapshot as the in-memory index keeps them: an immutable map encoded into a
 * single byte array, about a third of the heap the same labels take as a map of strings. The keys
 * containerd and the OverlayBD tools set on nearly every layer are one byte each, and sha256
 * digests (alone, or the comma-separated lists of CRI's {@code cri.image-layers}) are kept as raw
 * bytes.
 *
 * <p>The encoding exists only in memory; the database keeps labels as JSON. Entries are decoded on
 * each access, which costs microseconds; nothing is cached, because the point is the memory. Thread
 * safe (immutable).
 */
final class StoredLabels extends AbstractMap<String, String> {
  static final StoredLabels EMPTY = new StoredLabels(new byte[0], 0);

  /** Keys encoded as one byte (their index + 1); order fixed for the life of a process only. */
  private static final List<String> COMMON_KEYS =
      List.of(
          "containerd.io/snapshot.ref",
          "containerd.io/snapshot/cri.image-ref",
          "containerd.io/snapshot/cri.layer-digest",
          "containerd.io/snapshot/cri.manifest-digest",
          "containerd.io/snapshot/cri.image-layers",
          "containerd.io/snapshot/image-ref",
          "containerd.io/snapshot/remote",
          "containerd.io/snapshot/overlaybd/blob-digest",
          "containerd.io/snapshot/overlaybd/blob-size",
          "containerd.io/snapshot/overlaybd/blob-fs-type",
          "containerd.io/snapshot/overlaybd/version",
          "containerd.io/snapshot/overlaybd/acceleration-layer",
          "containerd.io/snapshot/overlaybd.localcommitpath",
          "containerd.io/snapshot/overlaybd.writable",
          "containerd.io/snapshot/type",
          "containerd.io/snapshot/nydus-blob-ids",
          "containerd.io/snapshot/remote/stargz.reference",
          "containerd.io/snapshot/remote/stargz.digest",
          "containerd.io/snapshot/remote/stargz.size",
          "containerd.io/snapshot/remote/urls");

  private static final Map<String, Integer> KEY_CODES = new HashMap<>();

  static {
    for (int i = 0; i < COMMON_KEYS.size(); i++) {
      KEY_CODES.put(COMMON_KEYS.get(i), i + 1);
    }
  }

  private static final int TEXT = 0;
  private static final int DIGEST = 1;
  private static final int DIGEST_LIST = 2;
  private static final String SHA256 = "sha256:";
  private static final Pattern DIGESTS =
      Pattern.compile("sha256:[0-9a-f]{64}(?:,sha256:[0-9a-f]{64})*");

  private final byte[] bytes;
  private final int size;

  private StoredLabels(byte[] bytes, int size) {
    this.bytes = bytes;
    this.size = size;
  }

  /** {@code labels} in compact form ({@code labels} itself when it is compact already). */
  static StoredLabels of(Map<String, String> labels) {
    if (labels instanceof StoredLabels s) {
      return s;
    }
    if (labels.isEmpty()) {
      return EMPTY;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(64);
    for (Map.Entry<String, String> e : labels.entrySet()) {
      String key = e.getKey();
      String value = e.getValue();
      Integer code = KEY_CODES.get(key);
      if (code != null) {
        out.write(code);
      } else {
        out.write(0);
        writeText(out, key);
      }
      if (value.length() == SHA256.length() + 64 && DIGESTS.matcher(value).matches()) {
        out.write(DIGEST);
        writeHex(out, value, SHA256.length());
      } else if (value.length() > SHA256.length() + 64 && DIGESTS.matcher(value).matches()) {
        int count = (value.length() + 1) / (SHA256.length() + 65);
        out.write(DIGEST_LIST);
        writeVarint(out, count);
        for (int i = 0; i < count; i++) {
          writeHex(out, value, i * (SHA256.length() + 65) + SHA256.length());
        }
      } else {
        out.write(TEXT);
        writeText(out, value);
      }
    }
    return new StoredLabels(out.toByteArray(), labels.size());
  }

  /** Bytes of heap this map holds beyond a shared empty one, for the index's memory budget. */
  int heapBytes() {
    return bytes.length == 0 ? 0 : 32 + bytes.length;
  }

  @Override
  public int size() {
    return size;
  }

  @Override
  public String get(Object key) {
    if (!(key instanceof String wanted)) {
      return null;
    }
    Reader r = new Reader();
    while (r.hasNext()) {
      if (r.nextKey().equals(wanted)) {
        return r.nextValue();
      }
      r.skipValue();
    }
    return null;
  }

  @Override
  public boolean containsKey(Object key) {
    return get(key) != null;
  }

  @Override
  public Set<Entry<String, String>> entrySet() {
    return new AbstractSet<>() {
      @Override
      public int size() {
        return size;
      }

      @Override
      public Iterator<Entry<String, String>> iterator() {
        Reader r = new Reader();
        return new Iterator<>() {
          @Override
          public boolean hasNext() {
            return r.hasNext();
          }

          @Override
          public Entry<String, String> next() {
            if (!r.hasNext()) {
              throw new NoSuchElementException();
            }
            String k = r.nextKey();
            return new SimpleImmutableEntry<>(k, r.nextValue());
          }
        };
      }
    };
  }

  @Override
  public boolean equals(Object o) {
    if (o instanceof StoredLabels s) {
      return Arrays.equals(bytes, s.bytes);
    }
    return super.equals(o);
  }

  @Override
  public int hashCode() {
    return super.hashCode();
  }

  /** Walks the encoded entries; each entry is a key then a value. */
  private final class Reader {
    private int pos;

    boolean hasNext() {
      return pos < bytes.length;
    }

    String nextKey() {
      int code = bytes[pos++] & 0xff;
      return code == 0 ? readText() : COMMON_KEYS.get(code - 1);
    }

    String nextValue() {
      int tag = bytes[pos++];
      return switch (tag) {
        case DIGEST -> readDigest();
        case DIGEST_LIST -> {
          int count = readVarint();
          StringBuilder b = new StringBuilder(count * 72);
          for (int i = 0; i < count; i++) {
            if (i > 0) {
              b.append(',');
            }
            b.append(readDigest());
          }
          yield b.toString();
        }
        default -> readText();
      };
    }

    void skipValue() {
      int tag = bytes[pos++];
      switch (tag) {
        case DIGEST -> pos += 32;
        case DIGEST_LIST -> {
          int count = readVarint();
          pos += 32 * count;
        }
        default -> {
          int len = readVarint();
          pos += len;
        }
      }
    }

    private String readText() {
      int len = readVarint();
      String s = new String(bytes, pos, len, StandardCharsets.UTF_8);
      pos += len;
      return s;
    }

    private String readDigest() {
      char[] c = new char[SHA256.length() + 64];
      SHA256.getChars(0, SHA256.length(), c, 0);
      for (int i = 0; i < 32; i++) {
        int b = bytes[pos++] & 0xff;
        c[SHA256.length() + 2 * i] = Character.forDigit(b >> 4, 16);
        c[SHA256.length() + 2 * i + 1] = Character.forDigit(b & 0xf, 16);
      }
      return new String(c);
    }

    private int readVarint() {
      int value = 0;
      for (int shift = 0; ; shift += 7) {
        int b = bytes[pos++] & 0xff;
        value |= (b & 0x7f) << shift;
        if (b < 0x80) {
          return value;
        }
      }
    }
  }

  private static void writeText(ByteArrayOutputStream out, String s) {
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    writeVarint(out, utf8.length);
    out.write(utf8, 0, utf8.length);
  }

  private static void writeHex(ByteArrayOutputStream out, String s, int from) {
    for (int i = 0; i < 32; i++) {
      out.write(
          Character.digit(s.charAt(from + 2 * i), 16) << 4
              | Character.digit(s.charAt(from + 2 * i + 1), 16));
    }
  }

  private static void writeVarint(ByteArrayOutputStream out, int value) {
    int v = value;
    while (v >= 0x80) {
      out.write((v & 0x7f) | 0x80);
      v >>>= 7;
    }
    out.write(v);
  }
}
