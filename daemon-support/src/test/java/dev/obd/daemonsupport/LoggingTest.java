package dev.obd.daemonsupport;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class LoggingTest {
  @Test
  void aMegabyteOfClientTextInAMessageOrAnExceptionMakesNoLongLineAndNoHugeRecord() {
    String key = "k".repeat(1 << 20);
    LogRecord r = new LogRecord(Level.WARNING, "could not undo the creation of snapshot " + key);
    r.setThrown(new IllegalStateException("snapshot " + key + "\nsecond line " + key));
    String out = new Logging.LineFormatter(false).format(r);
    assertThat(out.lines()).allSatisfy(l -> assertThat(l.length()).isLessThanOrEqualTo(4000));
    assertThat(out.length()).isLessThan(Logging.MAX_TRACE + 2 * Logging.MAX_LINE + 100);
    assertThat(out)
        .contains("could not undo the creation of snapshot kkk")
        .contains("characters cut");
    assertThat(out).contains("IllegalStateException");
  }

  @Test
  void anOrdinaryRecordIsOneLineAsItWas() {
    LogRecord r = new LogRecord(Level.INFO, "serving on /run/x.sock");
    assertThat(new Logging.LineFormatter(false).format(r))
        .endsWith("info  serving on /run/x.sock\n");
  }
}
