package dev.obd.image.lsmt;

import dev.obd.image.oci.Digest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Locale;

/**
 * A layer uuid as LSMT headers store it: 16 bytes printed in byte order (not RFC field order) as
 * upper-case hex in 8-4-4-4-12 groups plus a NUL, 37 bytes in all. The nil uuid is all zeros.
 * Parsing accepts either case.
 */
public record LayerUuid(byte[] bytes) {
  /** The all-zero uuid: a layer without an identity, or no parent. */
  public static final LayerUuid NIL = new LayerUuid(new byte[16]);

  /** Bytes of the printed form including the NUL. */
  static final int STRING_BYTES = 37;

  private static final SecureRandom RANDOM = new SecureRandom();

  public LayerUuid {
    if (bytes == null || bytes.length != 16) {
      throw new IllegalArgumentException("a layer uuid has 16 bytes");
    }
    bytes = bytes.clone();
  }

  @Override
  public byte[] bytes() {
    return bytes.clone();
  }

  public boolean isNil() {
    return Arrays.equals(bytes, NIL.bytes);
  }

  /**
   * Parses {@code "01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"} (either case).
   *
   * @throws IllegalArgumentException when the text is not a uuid
   */
  public static LayerUuid parse(String text) {
    if (text == null
        || text.length() != 36
        || text.charAt(8) != '-'
        || text.charAt(13) != '-'
        || text.charAt(18) != '-'
        || text.charAt(23) != '-') {
      throw new IllegalArgumentException("not a uuid: \"" + text + "\"");
    }
    String hex = text.replace("-", "");
    try {
      return new LayerUuid(HexFormat.of().parseHex(hex));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a uuid: \"" + text + "\"", e);
    }
  }

  /**
   * The uuid the official convertor gives a layer: the first 128 bits of its OCI chain ID.
   *
   * @param chainId {@code "sha256:<64 hex>"}
   */
  public static LayerUuid fromChainId(String chainId) {
    if (!Digest.isValid(chainId)) {
      throw new IllegalArgumentException("not a sha256 chain ID: \"" + chainId + "\"");
    }
    return new LayerUuid(HexFormat.of().parseHex(Digest.parse(chainId).hex(), 0, 32));
  }

  /** A random (version 4) uuid, as overlaybd gives new writable layers. */
  public static LayerUuid random() {
    byte[] b = new byte[16];
    RANDOM.nextBytes(b);
    b[6] = (byte) ((b[6] & 0x0F) | 0x40);
    b[8] = (byte) ((b[8] & 0x3F) | 0x80);
    return new LayerUuid(b);
  }

  /**
   * Reads the 37-byte field at {@code off}. Anything that is not a uuid string (e.g. all zeros, as
   * the nil parent is often stored) reads as {@link #NIL}.
   */
  static LayerUuid readField(byte[] block, int off) {
    int end = off;
    while (end < off + 36 && block[end] != 0) {
      end++;
    }
    String s = new String(block, off, end - off, java.nio.charset.StandardCharsets.US_ASCII);
    try {
      return parse(s);
    } catch (IllegalArgumentException e) {
      return NIL;
    }
  }

  /** Writes the 37-byte field (36 characters and a NUL) at {@code off}. */
  void writeField(byte[] block, int off) {
    byte[] s = toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    System.arraycopy(s, 0, block, off, 36);
    block[off + 36] = 0;
  }

  @Override
  public String toString() {
    String h = HexFormat.of().formatHex(bytes).toUpperCase(Locale.ROOT);
    return h.substring(0, 8)
        + '-'
        + h.substring(8, 12)
        + '-'
        + h.substring(12, 16)
        + '-'
        + h.substring(16, 20)
        + '-'
        + h.substring(20);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof LayerUuid && Arrays.equals(bytes, ((LayerUuid) o).bytes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(bytes);
  }
}
