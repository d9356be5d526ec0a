package dev.obd.backstore.daemon;

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

/** One line per event on stderr (the journal under systemd); levels take logrus names. */
public final class Logging {
  private static final Map<String, Level> LEVELS =
      Map.of(
          "trace", Level.FINEST,
          "debug", Level.FINE,
          "info", Level.INFO,
          "warn", Level.WARNING,
          "error", Level.SEVERE);
  private static final Logger NETTY = Logger.getLogger("io.netty");

  private Logging() {}

  public static void configure(String level) {
    Level jul = LEVELS.getOrDefault(level, Level.INFO);
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    Handler h = new ConsoleHandler();
    h.setLevel(Level.ALL);
    h.setFormatter(
        new Formatter() {
          @Override
          public String format(LogRecord r) {
            StringBuilder sb = new StringBuilder(128);
            sb.append(Instant.ofEpochMilli(r.getMillis())).append(' ');
            sb.append(r.getLevel().getName().toLowerCase()).append(' ');
            sb.append(formatMessage(r)).append('\n');
            if (r.getThrown() != null) {
              StringWriter sw = new StringWriter();
              r.getThrown().printStackTrace(new PrintWriter(sw));
              sb.append(sw);
            }
            return sb.toString();
          }
        });
    root.addHandler(h);
    root.setLevel(jul);
    NETTY.setLevel(jul == Level.FINEST ? Level.FINEST : Level.INFO);
  }
}
