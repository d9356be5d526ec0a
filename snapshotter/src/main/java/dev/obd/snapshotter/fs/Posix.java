package dev.obd.snapshotter.fs;

import jnr.posix.FileStat;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;
import jnr.posix.util.DefaultPOSIXHandler;

/**
 * The few POSIX calls the JDK does not offer ({@code st_blocks}, {@code st_dev}/{@code st_ino} of
 * any file), through jnr-posix. Thread-safe.
 */
final class Posix {
  private static final POSIX POSIX = POSIXFactory.getNativePOSIX(new DefaultPOSIXHandler());

  private Posix() {}

  /** lstat(2), or {@code null} when the file does not exist (any more). */
  static FileStat lstat(String path) {
    FileStat st = POSIX.allocateStat();
    int rc = POSIX.lstat(path, st);
    return rc == 0 ? st : null;
  }
}
