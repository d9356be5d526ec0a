package dev.obd.obdctl;

import dev.obd.image.convert.ConvertProgress;
import java.io.Console;
import java.io.PrintWriter;
import java.lang.reflect.Method;

/**
 * Progress on a terminal: finished steps as lines, and below them one status line redrawn in place
 * (carriage return, erase to end of line), cut to the terminal's width so that it never wraps.
 */
final class TerminalProgress implements ConvertProgress {
  private static final String ERASE = "\r\033[K";

  private final PrintWriter out;
  private final int width;
  private boolean shown;

  TerminalProgress(PrintWriter out, int width) {
    this.out = out;
    this.width = Math.max(20, width);
  }

  /** Whether standard input and output are a terminal that understands the redraw. */
  static boolean available() {
    Console c = System.console();
    if (c == null || "dumb".equals(System.getenv("TERM"))) {
      return false;
    }
    try {
      // from JDK 22 a Console exists without a terminal too; isTerminal tells
      Method m = Console.class.getMethod("isTerminal");
      return (Boolean) m.invoke(c);
    } catch (NoSuchMethodException e) {
      return true;
    } catch (ReflectiveOperationException e) {
      return false;
    }
  }

  /** The terminal's width from $COLUMNS, else 80. */
  static int columns() {
    try {
      return Integer.parseInt(System.getenv().getOrDefault("COLUMNS", "80").strip());
    } catch (NumberFormatException e) {
      return 80;
    }
  }

  @Override
  public synchronized void accept(String line) {
    if (shown) {
      out.print(ERASE);
      shown = false;
    }
    out.println(line);
    out.flush();
  }

  @Override
  public synchronized void status(String text) {
    String s = text.length() >= width ? text.substring(0, width - 2) + "…" : text;
    out.print(ERASE + s);
    out.flush();
    shown = true;
  }

  /** Clears the status line, before the summary. */
  synchronized void finish() {
    if (shown) {
      out.print(ERASE);
      out.flush();
      shown = false;
    }
  }
}
