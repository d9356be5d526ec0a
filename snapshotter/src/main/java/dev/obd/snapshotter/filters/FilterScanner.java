package dev.obd.snapshotter.filters;

/**
 * Splits a filter string into tokens the way containerd's filter scanner does, so that every string
 * containerd accepts is read identically: fields are runs of {@code [A-Za-z0-9_-]}, {@code .} and
 * {@code ,} separate, runs of {@code = ! ~} are operators, strings quoted with {@code "}, {@code /}
 * or {@code |} use Go escapes, and after an operator an unquoted value runs to the next comma or
 * white space.
 */
final class FilterScanner {

  static final int EOF = -1;
  static final int ILLEGAL = -2;

  enum Kind {
    EOF,
    ILLEGAL,
    QUOTED,
    VALUE,
    FIELD,
    SEPARATOR,
    OPERATOR,
    /** A single character that starts no other token; {@link Token#text} holds it. */
    OTHER
  }

  record Token(Kind kind, int pos, String text) {}

  private final String input;
  private int pos; // start of the current code point
  private int next; // start of the code point after it
  private boolean valueExpected;
  private String error;

  FilterScanner(String input) {
    this.input = input;
  }

  String error() {
    return error == null ? "illegal input" : error;
  }

  private int read() {
    if (next >= input.length()) {
      pos = input.length();
      return EOF;
    }
    pos = next;
    int cp = input.codePointAt(next);
    next += Character.charCount(cp);
    if (cp == 0) {
      fail("unexpected null");
      return ILLEGAL;
    }
    return cp;
  }

  int peek() {
    int savedPos = pos;
    int savedNext = next;
    int cp = read();
    pos = savedPos;
    next = savedNext;
    return cp;
  }

  Token scan() {
    int cp = read();
    while (cp >= 0 && Character.isWhitespace(cp)) {
      cp = read();
    }
    int start = pos;
    if (cp == EOF) {
      return new Token(Kind.EOF, start, "");
    }
    if (cp == ILLEGAL) {
      return new Token(Kind.ILLEGAL, start, "");
    }
    if (cp == '"' || cp == '/' || cp == '|') {
      boolean ok = scanQuoted(cp);
      return new Token(ok ? Kind.QUOTED : Kind.ILLEGAL, start, input.substring(start, next));
    }
    if (cp == ',' || cp == '.') {
      valueExpected = false;
      return new Token(Kind.SEPARATOR, start, input.substring(start, next));
    }
    if (isOperator(cp)) {
      while (isOperator(peek())) {
        read();
      }
      valueExpected = true;
      return new Token(Kind.OPERATOR, start, input.substring(start, next));
    }
    if (valueExpected) {
      while (isValueChar(peek())) {
        read();
      }
      valueExpected = false;
      return new Token(Kind.VALUE, start, input.substring(start, next));
    }
    if (isFieldChar(cp)) {
      while (isFieldChar(peek())) {
        read();
      }
      return new Token(Kind.FIELD, start, input.substring(start, next));
    }
    return new Token(Kind.OTHER, start, new String(Character.toChars(cp)));
  }

  private boolean scanQuoted(int quote) {
    quotedLegal = true;
    int cp = read();
    while (cp != quote) {
      if (cp == '\n' || cp < 0) {
        fail("quoted literal not terminated");
        return false;
      }
      if (cp != '\\') {
        cp = read();
        continue;
      }
      cp = read();
      if (cp >= '0' && cp <= '7') {
        cp = skipDigits(cp, 8, 3);
      } else if (cp == 'x') {
        cp = skipDigits(read(), 16, 2);
      } else if (cp == 'u') {
        cp = skipDigits(read(), 16, 4);
      } else if (cp == 'U') {
        cp = skipDigits(read(), 16, 8);
      } else if (cp == quote || "abfnrtv\\".indexOf(cp) >= 0) {
        cp = read();
      } else {
        fail("illegal escape sequence");
        quotedLegal = false;
      }
    }
    return quotedLegal;
  }

  private boolean quotedLegal;

  /** Skips up to {@code count} ASCII digits of {@code base}; returns the code point after them. */
  private int skipDigits(int cp, int base, int count) {
    while (count > 0 && cp >= 0 && cp < 128 && Character.digit(cp, base) >= 0) {
      cp = read();
      count--;
    }
    if (count > 0) {
      fail("illegal numeric escape sequence");
      quotedLegal = false;
    }
    return cp;
  }

  private void fail(String message) {
    if (error == null) {
      error = message;
    }
  }

  private static boolean isOperator(int cp) {
    return cp == '=' || cp == '!' || cp == '~';
  }

  static boolean isFieldChar(int cp) {
    return cp == '-'
        || cp == '_'
        || (cp >= 'A' && cp <= 'Z')
        || (cp >= 'a' && cp <= 'z')
        || (cp >= '0' && cp <= '9');
  }

  private static boolean isValueChar(int cp) {
    if (cp < 0 || cp == ',' || Character.isWhitespace(cp) || Character.isSpaceChar(cp)) {
      return false;
    }
    return switch (Character.getType(cp)) {
      case Character.UPPERCASE_LETTER,
          Character.LOWERCASE_LETTER,
          Character.TITLECASE_LETTER,
          Character.MODIFIER_LETTER,
          Character.OTHER_LETTER,
          Character.NON_SPACING_MARK,
          Character.ENCLOSING_MARK,
          Character.COMBINING_SPACING_MARK,
          Character.DECIMAL_DIGIT_NUMBER,
          Character.LETTER_NUMBER,
          Character.OTHER_NUMBER,
          Character.CONNECTOR_PUNCTUATION,
          Character.DASH_PUNCTUATION,
          Character.START_PUNCTUATION,
          Character.END_PUNCTUATION,
          Character.INITIAL_QUOTE_PUNCTUATION,
          Character.FINAL_QUOTE_PUNCTUATION,
          Character.OTHER_PUNCTUATION,
          Character.MATH_SYMBOL,
          Character.CURRENCY_SYMBOL,
          Character.MODIFIER_SYMBOL,
          Character.OTHER_SYMBOL ->
          true;
      default -> false;
    };
  }
}
