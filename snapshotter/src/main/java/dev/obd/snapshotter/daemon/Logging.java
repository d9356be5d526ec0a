package dev.obd.snapshotter.daemon;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.Map;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Sends all logging to stderr (the journal under systemd), one line per event: time, level,
 * message, then the cause chain of an attached exception. Levels take upstream's logrus names.
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

  /** Strong references: JUL forgets the level of a logger nobody references. */
  private static final Logger[] LIBRARY_LOGGERS = {
    Logger.getLogger("io.grpc"), Logger.getLogger("io.netty")
  };

  private Logging() {}

  /** Configures the root logger; {@code reportCaller} adds the logging class to each line. */
  public static void configure(String level, boolean reportCaller) {
    Level jul = LEVELS.getOrDefault(level, Level.INFO);
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

  private static final class LineFormatter extends Formatter {
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
      sb.append(formatMessage(r)).append('\n');
      if (r.getThrown() != null) {
        StringWriter sw = new StringWriter();
        r.getThrown().printStackTrace(new PrintWriter(sw));
        sb.append(sw);
      }
      return sb.toString();
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
