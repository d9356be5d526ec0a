package dev.obd.registry;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** The messages logged below a logger while a test runs, every level included. */
final class LogLines extends Handler implements AutoCloseable {
  private final Logger logger;
  private final List<String> lines = new ArrayList<>();

  private LogLines(Logger logger) {
    this.logger = logger;
  }

  static LogLines capture(String name) {
    LogLines l = new LogLines(Logger.getLogger(name));
    l.logger.setLevel(Level.ALL);
    l.logger.addHandler(l);
    return l;
  }

  synchronized List<String> lines() {
    return List.copyOf(lines);
  }

  @Override
  public synchronized void publish(LogRecord r) {
    lines.add(r.getMessage());
  }

  @Override
  public void flush() {}

  @Override
  public void close() {
    logger.removeHandler(this);
    logger.setLevel(null);
  }
}
