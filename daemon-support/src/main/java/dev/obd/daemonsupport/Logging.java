package dev.obd.daemonsupport;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Sends all logging to stderr (the journal under systemd), one line per event: time, level,
 * message, then the cause chain of an attached exception. Levels take upstream's logrus names; both
 * daemons accept the same ones and refuse any other ({@link #checkLevel}).
 */
public final class Logging {
  private static final Map<String, Level> LEVELS =
      Map.of(
          "trace", Level.FINEST,
          "debug", Level.FINE,
          "info", Level.INFO,
          "warn", Level.WARNING,
          "warning", Level.WARNING,
          "error", Level.SEVERE,
          "fatal", Level.SEVERE,
          "panic", Level.SEVERE);

  /** The level names {@link #configure} takes, lower case. */
  public static final Set<String> LEVEL_NAMES = LEVELS.keySet();

  /** Strong references: JUL forgets the level of a logger nobody references. */
  private static final Logger[] LIBRARY_LOGGERS = {
    Logger.getLogger("io.grpc"), Logger.getLogger("io.netty")
  };

  private Logging() {}

  /**
   * {@code name} in lower case when it is a level name, in any case.
   *
   * @throws IllegalArgumentException saying which names there are
   */
  public static String checkLevel(String name) {
    String v = String.valueOf(name).toLowerCase(Locale.ROOT);
    if (!LEVELS.containsKey(v)) {
      throw new IllegalArgumentException(
          "must be one of "
              + String.join(", ", LEVEL_NAMES.stream().sorted().toList())
              + " (got \""
              + name
              + "\")");
    }
    return v;
  }

  /** As {@link #configure(String, boolean)}, without the logging class. */
  public static void configure(String level) {
    configure(level, false);
  }

  /**
   * Configures the root logger; {@code reportCaller} adds the logging class to each line.
   *
   * @throws IllegalArgumentException when {@code level} is not one of {@link #LEVEL_NAMES}
   */
  public static void configure(String level, boolean reportCaller) {
    Level jul = LEVELS.get(checkLevel(level));
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    Handler handler = new ConsoleHandler(); // writes to System.err
    handler.setLevel(Level.ALL);
    handler.setFormatter(new LineFormatter(reportCaller));
    root.addHandler(handler);
    root.setLevel(jul);
    // Library internals are noise at debug level; show them only when tracing.
    Level libraries = jul == Level.FINEST ? Level.FINEST : Level.INFO;
    for (Logger l : LIBRARY_LOGGERS) {
      l.setLevel(libraries);
    }
  }

  /**
   * One log line at most this long, a stack trace at most {@link #MAX_TRACE} characters: a message
   * or an exception may quote client text (a key, a label), and a client may send megabytes of it.
   * Our own messages cut client text to a few hundred characters already ({@code Excerpt}); this
   * bounds whatever slips through, such as text inside a library's exception.
   */
  static final int MAX_LINE = 4000;

  static final int MAX_TRACE = 64_000;

  static final class LineFormatter extends Formatter {
    private final boolean reportCaller;

    LineFormatter(boolean reportCaller) {
      this.reportCaller = reportCaller;
    }

    @Override
    public String format(LogRecord r) {
      StringBuilder sb = new StringBuilder(128);
      sb.append(Instant.ofEpochMilli(r.getMillis())).append(' ');
      sb.append(name(r.getLevel())).append(' ');
      if (reportCaller && r.getSourceClassName() != null) {
        sb.append('[')
            .append(r.getSourceClassName())
            .append('.')
            .append(r.getSourceMethodName())
            .append("] ");
      }
      sb.append(formatMessage(r).replace('\n', ' '));
      if (sb.length() > MAX_LINE) {
        sb.replace(0, sb.length(), cut(sb.toString(), MAX_LINE));
      }
      sb.append('\n');
      if (r.getThrown() != null) {
        StringWriter sw = new StringWriter();
        r.getThrown().printStackTrace(new PrintWriter(sw));
        int written = 0;
        for (String line : sw.toString().split("\n")) {
          if (written > MAX_TRACE) {
            sb.append("\t... (stack trace cut)\n");
            break;
          }
          String kept = cut(line, MAX_LINE);
          sb.append(kept).append('\n');
          written += kept.length() + 1;
        }
      }
      return sb.toString();
    }

    /** {@code s}, or its start and a note of how much was cut when longer than {@code max}. */
    private static String cut(String s, int max) {
      if (s.length() <= max) {
        return s;
      }
      return s.substring(0, max - 40) + "... (" + (s.length() - max + 40) + " characters cut)";
    }

    private static String name(Level l) {
      if (l.intValue() >= Level.SEVERE.intValue()) {
        return "error";
      } else if (l.intValue() >= Level.WARNING.intValue()) {
        return "warn ";
      } else if (l.intValue() >= Level.INFO.intValue()) {
        return "info ";
      } else if (l.intValue() >= Level.FINE.intValue()) {
        return "debug";
      }
      return "trace";
    }
  }
}
