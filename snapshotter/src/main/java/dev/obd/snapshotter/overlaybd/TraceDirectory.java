package dev.obd.snapshotter.overlaybd;

import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The one directory that record-trace files may be in ({@code recordTraceDir}). The {@link
 * Labels#RECORD_TRACE_PATH} label is a container label that whoever creates the container sets
 * (with CRI, a pod annotation); its value becomes {@code recordTracePath} in the image's
 * config.v1.json, a file that the data plane, running as root, replays a trace from or records one
 * into. Upstream takes any existing file, so a label could have {@code /etc/shadow} read as a trace
 * or overwritten with one; here the file must be a regular file inside this directory, also after
 * following symbolic links, and have no other hard link. The directory belongs to root (created
 * 0700), so only the operator places trace files there. Immutable, thread-safe.
 */
public final class TraceDirectory {
  private final Path configured;
  private final Path real;

  private TraceDirectory(Path configured, Path real) {
    this.configured = configured;
    this.real = real;
  }

  /**
   * The directory {@code dir}, created (mode 0700) if missing.
   *
   * @throws IOException when it cannot be created or is not a directory
   */
  public static TraceDirectory open(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(
          dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    return new TraceDirectory(dir, dir.toRealPath());
  }

  /**
   * The real path of the trace file {@code value} names.
   *
   * @throws InvalidArgumentException naming the label when the file is not an existing regular file
   *     inside this directory
   */
  public Path resolve(String value) {
    Path path;
    try {
      path = Path.of(value);
    } catch (InvalidPathException e) {
      throw invalid(value, "is not a path");
    }
    if (!path.isAbsolute() || !path.normalize().equals(path)) {
      throw invalid(value, "is not an absolute path without . or .. components");
    }
    // Lexically first, so that a label cannot probe which files exist elsewhere on the host.
    if (!isBelow(path, configured) && !isBelow(path, real)) {
      throw outside(value);
    }
    Path resolved;
    try {
      resolved = path.toRealPath();
    } catch (NoSuchFileException e) {
      throw invalid(value, "does not exist (the trace file must be created beforehand)");
    } catch (IOException e) {
      throw invalid(value, "cannot be resolved: " + e.getMessage());
    }
    if (!isBelow(resolved, real)) {
      throw outside(value); // a symbolic link out of the directory
    }
    try {
      if (!Files.isRegularFile(resolved, LinkOption.NOFOLLOW_LINKS)) {
        throw invalid(value, "is not a regular file");
      }
      Object links = Files.getAttribute(resolved, "unix:nlink", LinkOption.NOFOLLOW_LINKS);
      if (links instanceof Integer n && n != 1) {
        throw invalid(value, "has other hard links, which may be outside " + real);
      }
    } catch (IOException e) {
      throw invalid(value, "cannot be read: " + e.getMessage());
    }
    return resolved;
  }

  private static boolean isBelow(Path path, Path dir) {
    return path.startsWith(dir) && !path.equals(dir);
  }

  private InvalidArgumentException outside(String value) {
    return invalid(value, "is not inside " + configured + " (the recordTraceDir setting)");
  }

  private static InvalidArgumentException invalid(String value, String why) {
    return new InvalidArgumentException(
        "label " + Labels.RECORD_TRACE_PATH + ": \"" + Excerpt.of(value) + "\" " + why);
  }
}
