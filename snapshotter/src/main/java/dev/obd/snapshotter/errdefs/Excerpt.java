package dev.obd.snapshotter.errdefs;

import java.util.Locale;

/**
 * Client-supplied text (keys, names, label keys and values) as it may appear in an error message or
 * a log line: cut to a few hundred characters. A client may send a key of megabytes; echoing it
 * whole would make log lines of megabytes, and a status description beyond grpc-java's 8 KiB header
 * limit, which its clients report as INTERNAL instead of the real code.
 */
public final class Excerpt {
  /** Text up to this many characters is shown whole. */
  public static final int MAX_CHARS = 200;

  private Excerpt() {}

  /**
   * {@code text}, or its first {@link #MAX_CHARS} characters and how long it really is; control
   * characters escaped.
   */
  public static String of(String text) {
    return of(text, MAX_CHARS);
  }

  /**
   * {@code text}, or its first {@code max} characters and how long it really is; control characters
   * escaped.
   */
  public static String of(String text, int max) {
    if (text.length() <= max) {
      return escaped(text);
    }
    return escaped(head(text, max)) + "...(" + text.length() + " characters)";
  }

  /**
   * A whole message bounded to {@code max} characters: its beginning and its end (where
   * containerd's class suffix such as {@code ": not found"} stands), with what was cut in between
   * marked.
   */
  public static String ofMessage(String message, int max) {
    if (message.length() <= max) {
      return message;
    }
    int tail = Math.min(max / 4, 120);
    int start = message.length() - tail;
    if (Character.isLowSurrogate(message.charAt(start))) {
      start++;
    }
    String head = head(message, max - tail);
    return head
        + "...("
        + (start - head.length())
        + " characters cut)..."
        + message.substring(start);
  }

  private static String escaped(String text) {
    StringBuilder sb = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isISOControl(c)) {
        if (sb == null) {
          sb = new StringBuilder(text.length() + 16).append(text, 0, i);
        }
        sb.append(c == '\n' ? "\\n" : String.format(Locale.ROOT, "\\u%04x", (int) c));
      } else if (sb != null) {
        sb.append(c);
      }
    }
    return sb == null ? text : sb.toString();
  }

  /** The first {@code n} characters, never splitting a surrogate pair. */
  private static String head(String text, int n) {
    int end = Character.isHighSurrogate(text.charAt(n - 1)) ? n - 1 : n;
    return text.substring(0, end);
  }
}
