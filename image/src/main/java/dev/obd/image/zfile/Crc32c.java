package dev.obd.image.zfile;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The "raw" CRC-32C that ZFile uses: Castagnoli polynomial, register starts at a given seed, no
 * inversion before or after. {@link CRC32C} cannot take a seed and always inverts, but it is a JIT
 * intrinsic, so this class computes the standard CRC and converts it: the CRC register is affine in
 * its start value, so {@code raw(seed, d) = ~std(d) ^ shift(~seed, |d|)} where {@code shift(v, n)}
 * is the register after feeding {@code n} zero bytes from {@code v} (a multiplication by {@code
 * x^(8n)} modulo the polynomial). Shifts for lengths below 128 KiB are cached per instance.
 * Thread-safe.
 */
final class Crc32c {
  /** The seed ZFile uses for per-block CRCs (overlaybd zfile.cpp). */
  static final int BLOCK_SEED = 100007;

  private static final int POLY = 0x82F63B78; // reflected Castagnoli
  private static final int CACHED_LENGTHS = 1 << 17;

  /** X_POW_2K[k] = x^(2^k) mod P, reflected. */
  private static final int[] X_POW_2K = new int[64];

  static {
    int p = 1 << 30; // x^1
    for (int k = 0; k < X_POW_2K.length; k++) {
      X_POW_2K[k] = p;
      p = multiplyModP(p, p);
    }
  }

  private static final Crc32c SEED_ZERO = new Crc32c(0);
  private static final Crc32c SEED_BLOCK = new Crc32c(BLOCK_SEED);

  private final int notSeed;

  /**
   * shift(~seed, n) per length n; 0 = not computed yet (a shift of a non-zero value is never 0).
   */
  private final int[] cache = new int[CACHED_LENGTHS];

  private Crc32c(int seed) {
    this.notSeed = ~seed;
  }

  /** Raw CRC-32C with seed 0 (header digest, jump-table CRC). */
  static int seedZero(ByteBuffer data) {
    return SEED_ZERO.of(data);
  }

  /** Raw CRC-32C with seed 0 over a byte range. */
  static int seedZero(byte[] data, int off, int len) {
    return SEED_ZERO.of(ByteBuffer.wrap(data, off, len));
  }

  /** Raw CRC-32C with the block seed 100007 (per-block CRC). */
  static int block(ByteBuffer data) {
    return SEED_BLOCK.of(data);
  }

  /** Converts a standard CRC-32C of {@code n} bytes to the raw seed-0 CRC of the same bytes. */
  static int seedZeroFromStandard(int standard, long n) {
    return SEED_ZERO.fromStandard(standard, n);
  }

  /** Converts a standard CRC-32C of {@code n} bytes to the raw block-seeded CRC. */
  static int blockFromStandard(int standard, long n) {
    return SEED_BLOCK.fromStandard(standard, n);
  }

  /** CRC of the bytes between {@code data}'s position and limit; the buffer is not moved. */
  int of(ByteBuffer data) {
    int n = data.remaining();
    CRC32C std = new CRC32C();
    std.update(data.duplicate());
    return fromStandard((int) std.getValue(), n);
  }

  int fromStandard(int standard, long n) {
    return ~standard ^ shift(n);
  }

  private int shift(long n) {
    if (n == 0) {
      return notSeed;
    }
    if (n < CACHED_LENGTHS) {
      int v = cache[(int) n];
      if (v == 0) {
        v = multiplyModP(xPow8n(n), notSeed);
        cache[(int) n] = v; // benign race: every thread computes the same value
      }
      return v;
    }
    return multiplyModP(xPow8n(n), notSeed);
  }

  /** x^(8n) mod P, by multiplying the powers x^(2^k) for the set bits k of 8n. */
  private static int xPow8n(long n) {
    long e = n << 3;
    int p = 1 << 31; // x^0
    for (int k = 0; e != 0; k++, e >>>= 1) {
      if ((e & 1) != 0) {
        p = multiplyModP(X_POW_2K[k], p);
      }
    }
    return p;
  }

  /** a * b mod P with both in reflected bit order (bit 31 = x^0). */
  private static int multiplyModP(int a, int b) {
    if (a == 0) {
      return 0;
    }
    int m = 1 << 31;
    int product = 0;
    while (true) {
      if ((a & m) != 0) {
        product ^= b;
        if ((a & (m - 1)) == 0) {
          return product;
        }
      }
      m >>>= 1;
      b = (b & 1) != 0 ? (b >>> 1) ^ POLY : b >>> 1;
    }
  }
}
