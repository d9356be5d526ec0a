package dev.obd.image.zfile;

/**
 * The block compression algorithms ZFile defines, with their codes in the header's {@code algo}
 * byte. Code 0 (mini-LZO) is reserved upstream and never written, so it is not listed.
 */
public enum Compression {
  /** Raw LZ4 block format, no frame; the convertor's default. */
  LZ4(1),
  /** One complete zstd frame per block, level 3. */
  ZSTD(2);

  private final int code;

  Compression(int code) {
    this.code = code;
  }

  /** The value stored in the header's {@code algo} byte. */
  public int code() {
    return code;
  }

  /** The algorithm for a header code, or null when the code is unknown. */
  static Compression fromCode(int code) {
    for (Compression c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }
}
