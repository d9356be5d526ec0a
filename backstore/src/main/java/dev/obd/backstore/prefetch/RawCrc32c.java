package dev.obd.backstore.prefetch;

/**
 * CRC-32C without the usual pre- and post-inversion, starting from a given seed: the checksum
 * overlaybd's trace files carry. {@link java.util.zip.CRC32C} always inverts, hence this table.
 */
final class RawCrc32c {
  private static final int[] TABLE = new int[256];

  static {
    for (int i = 0; i < 256; i++) {
      int c = i;
      for (int k = 0; k < 8; k++) {
        c = (c & 1) != 0 ? (c >>> 1) ^ 0x82F63B78 : c >>> 1;
      }
      TABLE[i] = c;
    }
  }

  private RawCrc32c() {}

  static int update(int seed, byte[] data, int off, int len) {
    int c = seed;
    for (int i = off; i < off + len; i++) {
      c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
    }
    return c;
  }
}
