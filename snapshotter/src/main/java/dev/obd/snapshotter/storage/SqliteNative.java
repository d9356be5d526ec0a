package dev.obd.snapshotter.storage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Where sqlite-jdbc unpacks its native library. By default that is {@code /tmp}, one copy per
 * process, removed only on a clean exit: a daemon killed with {@code -9} or by the OOM killer
 * leaves a megabyte behind each time, and a {@code noexec} {@code /tmp} stops the daemon from
 * starting. Instead the library goes to {@code <root>/.native}, owned by the one daemon that holds
 * the root's lock, which clears what an earlier process left there.
 */
final class SqliteNative {
  private static final String PROPERTY = "org.sqlite.tmpdir";

  private SqliteNative() {}

  /** Before the first connection of this process: unpack the library below {@code root}. */
  static synchronized void placeBelow(Path root) {
    if (System.getProperty(PROPERTY) != null) {
      return; // chosen already, by an earlier store of this process or by the operator
    }
    Path dir = root.resolve(".native");
    try {
      if (!Files.isDirectory(dir)) {
        Files.createDirectories(
            dir,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      }
      try (DirectoryStream<Path> stale = Files.newDirectoryStream(dir)) {
        for (Path p : stale) {
          Files.deleteIfExists(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("prepare " + dir + " for SQLite's native library", e);
    }
    System.setProperty(PROPERTY, dir.toString());
  }
}
