package dev.obd.snapshotter.daemon;

import dev.obd.snapshotter.fs.Trees;
import dev.obd.snapshotter.overlay.OverlaySnapshotter;
import dev.obd.snapshotter.snapshots.Snapshotter;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The warm-up a fresh daemon runs before its socket appears: every RPC, over real connections to
 * the server's temporary socket ({@link WarmUpCalls}), against a snapshotter on a scratch root of
 * its own. A JVM runs a request path slowly until it has loaded, initialized and compiled it; this
 * pays that before containerd's first connection instead of in it (containerd 1.7 and 2.x give the
 * connection, server preface included, about one second).
 *
 * <p>The real root is never touched: its metadata and directories are exactly as they were. The
 * scratch root lives on tmpfs when {@code /dev/shm} is there (so that its metadata commits cost no
 * disk flushes), else in {@code java.io.tmpdir}, and is deleted afterwards; one that a killed
 * daemon left behind is deleted by the next start. Its snapshotter attaches no devices.
 */
final class WarmUp {
  private static final Logger LOG = Logger.getLogger(WarmUp.class.getName());

  /** Scratch roots are named this, then the pid of the daemon that made them. */
  static final String SCRATCH_PREFIX = "obd-snapshotter-warm-up-";

  /**
   * Rounds per warm-up thread. The first round loads, links and first runs the whole request path,
   * which is what containerd's first connection needs; each further one costs 0.1-0.3 s of CPU on a
   * 2-core machine, and 8 rounds gave no better first calls than 2 (BENCHMARKS.md).
   */
  static final int DEFAULT_ROUNDS = 2;

  private WarmUp() {}

  /**
   * Opens a snapshotter on a fresh scratch root, first deleting scratch roots of daemons that died
   * during their warm-up.
   */
  static Scratch openScratch(List<String> overlayOptions) throws IOException {
    Path parent = scratchParent();
    removeAbandoned(parent);
    Path root = parent.resolve(SCRATCH_PREFIX + ProcessHandle.current().pid());
    Trees.deleteRecursively(root);
    try {
      OverlaySnapshotter snapshotter =
          OverlaySnapshotter.open(
              root,
              false,
              overlayOptions,
              OverlaySnapshotter.BlockSupport.withoutDevices(
                  "the warm-up attaches no devices", root.resolve("record-trace"), List.of()));
      return new Scratch(root, snapshotter);
    } catch (IOException | RuntimeException e) {
      Trees.deleteRecursively(root);
      throw e;
    }
  }

  /**
   * Runs the warm-up calls over {@code server}'s temporary socket; a failure is logged, not thrown:
   * a daemon that could not warm up still serves, only its first calls are slower.
   */
  static void run(UnixSocketServer server, int rounds) throws InterruptedException {
    if (rounds <= 0) {
      return;
    }
    long t0 = System.nanoTime();
    try {
      new WarmUpCalls(server.boundAt()).run(rounds);
      LOG.fine(
          "warmed up with "
              + rounds
              + " rounds of calls in "
              + (System.nanoTime() - t0) / 1_000_000
              + " ms");
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "warm-up failed; serving anyway, first calls may be slow", e);
    }
  }

  /** {@code /dev/shm} when it is a directory we may write, else {@code java.io.tmpdir}. */
  private static Path scratchParent() {
    Path shm = Path.of("/dev/shm");
    if (Files.isDirectory(shm) && Files.isWritable(shm)) {
      return shm;
    }
    return Path.of(System.getProperty("java.io.tmpdir"));
  }

  /**
   * Deletes scratch roots of this user whose daemon is gone: its pid is not running, or is running
   * but does not hold the root's lock (a reused pid).
   */
  private static void removeAbandoned(Path parent) {
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(parent, SCRATCH_PREFIX + "*")) {
      Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      for (Path dir : dirs) {
        if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
            && uid.equals(Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS))
            && isAbandoned(dir)) {
          Trees.deleteRecursively(dir);
          LOG.fine("deleted the abandoned warm-up root " + dir);
        }
      }
    } catch (IOException | UnsupportedOperationException e) {
      LOG.log(Level.WARNING, "could not delete abandoned warm-up roots in " + parent, e);
    }
  }

  private static boolean isAbandoned(Path dir) throws IOException {
    String suffix = dir.getFileName().toString().substring(SCRATCH_PREFIX.length());
    if (!suffix.matches("[0-9]{1,10}") || ProcessHandle.of(Long.parseLong(suffix)).isEmpty()) {
      return true;
    }
    Path lock = dir.resolve("lock");
    if (!Files.isRegularFile(lock, LinkOption.NOFOLLOW_LINKS)) {
      return false; // its daemon is about to take the lock
    }
    try (FileChannel ch = FileChannel.open(lock, StandardOpenOption.WRITE);
        FileLock l = ch.tryLock()) {
      return l != null;
    }
  }

  /** A snapshotter on a scratch root; closing it deletes the root. */
  record Scratch(Path root, Snapshotter snapshotter) implements AutoCloseable {
    @Override
    public void close() {
      snapshotter.close();
      try {
        Trees.deleteRecursively(root);
      } catch (IOException e) {
        LOG.log(Level.WARNING, "could not delete the warm-up root " + root, e);
      }
    }
  }
}
