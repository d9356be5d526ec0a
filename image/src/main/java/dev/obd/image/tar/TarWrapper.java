package dev.obd.image.tar;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * The single-file tar that wraps an OverlayBD layer blob so that registries and tar tools accept
 * it. Detection follows overlaybd's {@code open_tar_file}: the first block must carry the POSIX
 * magic {@code "ustar\0"} version {@code "00"} and a valid checksum (GNU {@code "ustar "} tars are
 * not wrappers). A PAX first header ({@code 'x'}) means the payload follows the PAX data and the
 * real header, with its size taken from the PAX {@code size} record; otherwise the payload starts
 * at byte 512 with the ustar size.
 *
 * @param kind which variant was found
 * @param payloadOffset where the wrapped file starts
 * @param payloadSize its length
 * @param entryName the name of the wrapped file in the tar (e.g. {@code overlaybd.commit})
 */
public record TarWrapper(Kind kind, long payloadOffset, long payloadSize, String entryName) {

  /** The two wrapper variants in use. */
  public enum Kind {
    /** PAX extended header first, as {@code overlaybd-commit -t} writes. */
    PAX,
    /** A plain ustar header, as the convertor's Go archive/tar base layer uses. */
    USTAR
  }

  static final int BLOCK = 512;

  /**
   * Looks for a tar wrapper at the start of {@code source}.
   *
   * @return empty when the source does not start with a valid ustar header (it is then read raw)
   * @throws LayerFormatException when it does but the wrapped file's extent is not in the source
   */
  public static Optional<TarWrapper> detect(ByteSource source) throws IOException {
    long size = source.size();
    if (size < BLOCK) {
      return Optional.empty();
    }
    byte[] first = read(source, 0, BLOCK);
    if (!isUstarHeader(first)) {
      return Optional.empty();
    }
    String name = source.describe();
    TarWrapper w;
    if (first[156] == 'x') {
      long paxSize = parseOctal(first, 124, 12);
      if (paxSize < 0 || paxSize > 64 * 1024) {
        throw new LayerFormatException(
            "read tar wrapper of " + name + " at offset 0: bad PAX header size " + paxSize);
      }
      long realHeader = BLOCK + roundUp(paxSize);
      if (realHeader + BLOCK > size) {
        throw new LayerFormatException(
            "read tar wrapper of "
                + name
                + ": truncated after the PAX header ("
                + size
                + " bytes)");
      }
      byte[] pax = read(source, BLOCK, (int) paxSize);
      long paxPayloadSize = paxRecordSize(pax, name);
      byte[] header = read(source, realHeader, BLOCK);
      long ustarSize = parseOctal(header, 124, 12);
      long payload = paxPayloadSize > 0 ? paxPayloadSize : ustarSize;
      w = new TarWrapper(Kind.PAX, realHeader + BLOCK, payload, entryName(header));
    } else {
      w = new TarWrapper(Kind.USTAR, BLOCK, parseOctal(first, 124, 12), entryName(first));
    }
    if (w.payloadSize < 0 || w.payloadSize > size - w.payloadOffset) {
      throw new LayerFormatException(
          "read tar wrapper of "
              + name
              + ": wrapped file of "
              + w.payloadSize
              + " bytes at offset "
              + w.payloadOffset
              + " does not fit in the blob ("
              + size
              + " bytes)");
    }
    return Optional.of(w);
  }

  /** The wrapped file as a source of its own; closing the view closes {@code source}. */
  public ByteSource payload(ByteSource source) {
    return new ByteSlice(source, payloadOffset, payloadSize, kind.name().toLowerCase());
  }

  static boolean isUstarHeader(byte[] b) {
    if (b.length < BLOCK) {
      return false;
    }
    String magic = new String(b, 257, 6, StandardCharsets.ISO_8859_1);
    if (!magic.equals("ustar\0") || b[263] != '0' || b[264] != '0') {
      return false;
    }
    long stored = parseOctal(b, 148, 8);
    long unsigned = 0;
    long signed = 0;
    for (int i = 0; i < BLOCK; i++) {
      int v = (i >= 148 && i < 156) ? ' ' : b[i];
      unsigned += v & 0xFF;
      signed += (byte) v;
    }
    return stored >= 0 && (stored == unsigned || stored == signed);
  }

  /** Parses an octal field (leading spaces, terminated by NUL or space); -1 when malformed. */
  static long parseOctal(byte[] b, int off, int len) {
    int i = off;
    int end = off + len;
    while (i < end && b[i] == ' ') {
      i++;
    }
    long v = 0;
    int digits = 0;
    for (; i < end; i++) {
      byte c = b[i];
      if (c == 0 || c == ' ') {
        break;
      }
      if (c < '0' || c > '7' || digits >= 21) {
        return -1;
      }
      v = (v << 3) | (c - '0');
      digits++;
    }
    return v;
  }

  /** The {@code size} record of PAX extended-header data ({@code "LEN key=value\n"}...), or 0. */
  private static long paxRecordSize(byte[] pax, String name) throws LayerFormatException {
    long size = 0;
    int pos = 0;
    while (pos < pax.length && pax[pos] != 0) {
      int sp = pos;
      while (sp < pax.length && pax[sp] != ' ') {
        sp++;
      }
      int len;
      try {
        len = Integer.parseInt(new String(pax, pos, sp - pos, StandardCharsets.US_ASCII));
      } catch (NumberFormatException e) {
        throw new LayerFormatException(
            "read tar wrapper of " + name + ": malformed PAX record at byte " + (BLOCK + pos));
      }
      if (len <= sp - pos + 1 || pos + len > pax.length || pax[pos + len - 1] != '\n') {
        throw new LayerFormatException(
            "read tar wrapper of " + name + ": malformed PAX record at byte " + (BLOCK + pos));
      }
      String record = new String(pax, sp + 1, pos + len - sp - 2, StandardCharsets.UTF_8);
      int eq = record.indexOf('=');
      if (eq > 0 && record.substring(0, eq).equals("size")) {
        try {
          size = Long.parseLong(record.substring(eq + 1));
        } catch (NumberFormatException e) {
          throw new LayerFormatException(
              "read tar wrapper of " + name + ": malformed PAX size \"" + record + "\"");
        }
      }
      pos += len;
    }
    return size;
  }

  private static String entryName(byte[] header) {
    int end = 0;
    while (end < 100 && header[end] != 0) {
      end++;
    }
    return new String(header, 0, end, StandardCharsets.UTF_8);
  }

  static long roundUp(long n) {
    return (n + BLOCK - 1) / BLOCK * BLOCK;
  }

  private static byte[] read(ByteSource source, long offset, int n) throws IOException {
    byte[] b = new byte[n];
    source.readFully(offset, ByteBuffer.wrap(b));
    return b;
  }
}
