package dev.obd.snapshotter.filters;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Decodes a quoted filter literal: Go string-literal escapes, with {@code "}, {@code /} or {@code
 * |} as the delimiter. Byte escapes ({@code \x..}, octal) produce raw bytes, as in Go, and the
 * result is read as UTF-8.
 */
final class Unquoter {
  private Unquoter() {}

  /**
   * @throws IllegalArgumentException with "quote syntax error" when {@code quoted} is malformed
   */
  static String unquote(String quoted) {
    int n = quoted.length();
    if (n < 2 || quoted.charAt(0) != quoted.charAt(n - 1)) {
      throw syntaxError();
    }
    char quote = quoted.charAt(0);
    if (quote != '"' && quote != '/' && quote != '|') {
      throw syntaxError();
    }
    String body = quoted.substring(1, n - 1);
    if (body.indexOf('\n') >= 0) {
      throw syntaxError();
    }
    if (body.indexOf('\\') < 0 && body.indexOf(quote) < 0) {
      return body;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(body.length());
    int i = 0;
    while (i < body.length()) {
      char c = body.charAt(i);
      if (c == quote) {
        throw syntaxError();
      }
      if (c != '\\') {
        int cp = body.codePointAt(i);
        int width = Character.charCount(cp);
        out.writeBytes(body.substring(i, i + width).getBytes(StandardCharsets.UTF_8));
        i += width;
        continue;
      }
      if (i + 1 >= body.length()) {
        throw syntaxError();
      }
      char e = body.charAt(i + 1);
      i += 2;
      switch (e) {
        case 'a' -> out.write(7);
        case 'b' -> out.write('\b');
        case 'f' -> out.write('\f');
        case 'n' -> out.write('\n');
        case 'r' -> out.write('\r');
        case 't' -> out.write('\t');
        case 'v' -> out.write(11);
        case '\\' -> out.write('\\');
        case 'x' -> {
          out.write(hex(body, i, 2));
          i += 2;
        }
        case 'u', 'U' -> {
          int digits = e == 'u' ? 4 : 8;
          int cp = hex(body, i, digits);
          if (cp > Character.MAX_CODE_POINT || (cp >= 0xD800 && cp <= 0xDFFF)) {
            throw syntaxError();
          }
          out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
          i += digits;
        }
        case '0', '1', '2', '3', '4', '5', '6', '7' -> {
          if (i + 2 > body.length()) {
            throw syntaxError();
          }
          int v = e - '0';
          for (int j = 0; j < 2; j++) {
            int d = body.charAt(i + j) - '0';
            if (d < 0 || d > 7) {
              throw syntaxError();
            }
            v = (v << 3) | d;
          }
          if (v > 255) {
            throw syntaxError();
          }
          out.write(v);
          i += 2;
        }
        case '"', '/', '|', '\'' -> {
          if (e != quote) {
            throw syntaxError();
          }
          out.write(e);
        }
        default -> throw syntaxError();
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  private static int hex(String s, int from, int digits) {
    if (from + digits > s.length()) {
      throw syntaxError();
    }
    int v = 0;
    for (int j = 0; j < digits; j++) {
      int d = Character.digit(s.charAt(from + j), 16);
      if (d < 0 || s.charAt(from + j) > 127) {
        throw syntaxError();
      }
      v = (v << 4) | d;
    }
    return v;
  }

  private static IllegalArgumentException syntaxError() {
    return new IllegalArgumentException("quote syntax error");
  }
}
