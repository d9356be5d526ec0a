package dev.obd.snapshotter.errdefs;

import java.sql.SQLException;

/**
 * Recognizes a failure caused by a full disk (or an exhausted quota) wherever it surfaced: SQLite
 * answers {@code SQLITE_FULL} when a write of its database or WAL gets ENOSPC; the JDK reports
 * ENOSPC and EDQUOT of directory creation, writes and renames as an {@link java.io.IOException}
 * carrying the C library's message. Neither has a type of its own, so the cause chain is searched
 * for them.
 */
public final class DiskFull {
  /** SQLite's primary result code SQLITE_FULL. */
  static final int SQLITE_FULL = 13;

  private static final String[] ERRNO_MESSAGES = {
    "No space left on device", // ENOSPC
    "Disk quota exceeded", // EDQUOT
  };

  private DiskFull() {}

  /** Whether {@code t} or one of its causes says the disk (or a quota) is full. */
  public static boolean causes(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof SQLException s && (s.getErrorCode() & 0xff) == SQLITE_FULL) {
        return true;
      }
      String m = c.getMessage();
      if (m != null) {
        for (String errno : ERRNO_MESSAGES) {
          if (m.contains(errno)) {
            return true;
          }
        }
      }
    }
    return false;
  }
}
