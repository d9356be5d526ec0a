package dev.obd.image.tar;

import dev.obd.image.LayerFiles;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Produces the PAX tar wrapper {@code overlaybd-commit -t} writes around a layer: a PAX header
 * named {@code overlaybd.pax} with one {@code size} record, a ustar header {@code overlaybd.commit}
 * (mode 0644, owner root, mtime 0), the payload, zero padding to 512 bytes and two zero blocks. The
 * payload always starts at {@link #PAYLOAD_OFFSET}, so a writer can reserve the headers, write the
 * payload in place and fill the headers in once its size is known.
 */
public final class TarWrapperWriter {
  /** Where the payload starts in a PAX wrapper. */
  public static final int PAYLOAD_OFFSET = 3 * TarWrapper.BLOCK;

  private TarWrapperWriter() {}

  /** The three header blocks for a payload of {@code payloadSize} bytes. */
  public static byte[] headers(long payloadSize) {
    if (payloadSize < 0) {
      throw new IllegalArgumentException("negative payload size " + payloadSize);
    }
    byte[] out = new byte[PAYLOAD_OFFSET];
    String body = " size=" + payloadSize + "\n";
    int len = body.length() + 1;
    while (String.valueOf(len).length() + body.length() != len) {
      len++;
    }
    byte[] record = (len + body).getBytes(StandardCharsets.US_ASCII);
    header(out, 0, "overlaybd.pax", 0644, record.length, 'x', "", "");
    System.arraycopy(record, 0, out, TarWrapper.BLOCK, record.length);
    header(out, 2 * TarWrapper.BLOCK, LayerFiles.COMMIT, 0644, 0, '0', "root", "root");
    return out;
  }

  /** The zero padding and end-of-archive blocks that follow a payload of {@code payloadSize}. */
  public static byte[] trailer(long payloadSize) {
    long pad = TarWrapper.roundUp(payloadSize) - payloadSize;
    return new byte[(int) pad + 2 * TarWrapper.BLOCK];
  }

  /** Total blob size for a payload of {@code payloadSize} bytes. */
  public static long wrappedSize(long payloadSize) {
    return PAYLOAD_OFFSET + TarWrapper.roundUp(payloadSize) + 2 * TarWrapper.BLOCK;
  }

  private static void header(
      byte[] out, int at, String name, int mode, long size, char type, String uname, String gname) {
    byte[] h = new byte[TarWrapper.BLOCK];
    put(h, 0, name);
    octal(h, 100, 8, mode);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, size);
    octal(h, 136, 12, 0);
    h[156] = (byte) type;
    put(h, 257, "ustar");
    h[262] = 0;
    h[263] = '0';
    h[264] = '0';
    put(h, 265, uname);
    put(h, 297, gname);
    octal(h, 329, 8, 0);
    octal(h, 337, 8, 0);
    Arrays.fill(h, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xFF;
    }
    String cs = String.format("%06o", sum);
    put(h, 148, cs);
    h[154] = 0;
    h[155] = ' ';
    System.arraycopy(h, 0, out, at, h.length);
  }

  private static void octal(byte[] h, int off, int len, long v) {
    String s = Long.toOctalString(v);
    String padded = "0".repeat(len - 1 - s.length()) + s;
    put(h, off, padded);
    h[off + len - 1] = 0;
  }

  private static void put(byte[] h, int off, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(b, 0, h, off, b.length);
  }
}
