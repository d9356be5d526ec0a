package dev.obd.configfile;

import java.util.ArrayList;
import java.util.List;

/**
 * The rule both daemons apply to a configuration key they do not know: it may belong to a newer
 * version or to upstream, so it is ignored with a warning at start, never refused. The first {@link
 * #MAX_WARNINGS} are named one by one, the rest only counted, so that a file of thousands of keys
 * makes no thousands of log lines. Not thread-safe: one per file being read.
 */
public final class UnknownKeys {
  /** Unknown keys reported one by one; beyond these, only their number. */
  public static final int MAX_WARNINGS = 20;

  private final String where;
  private final List<String> warnings = new ArrayList<>();
  private int count;

  /** Collects the unknown keys of the file {@code where} names, e.g. {@code "config /etc/x"}. */
  public UnknownKeys(String where) {
    this.where = where;
  }

  /**
   * Notes an unknown key, its path in the file ({@code a.b[0].c}) already cut and escaped for a log
   * line by the caller.
   */
  public void add(String shownKey) {
    if (++count <= MAX_WARNINGS) {
      warnings.add(where + ": unknown key \"" + shownKey + "\" ignored");
    }
  }

  /** One warning per key noted, then one for the keys beyond {@link #MAX_WARNINGS}. */
  public List<String> warnings() {
    List<String> all = new ArrayList<>(warnings);
    if (count > MAX_WARNINGS) {
      all.add(where + ": " + (count - MAX_WARNINGS) + " more unknown keys ignored");
    }
    return List.copyOf(all);
  }
}
