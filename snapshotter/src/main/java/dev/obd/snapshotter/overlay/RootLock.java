package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.errdefs.UnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An exclusive lock on a snapshotter root ({@code <root>/lock}, holding the owner's pid), so that
 * two daemons never manage the same snapshots. Released when closed or when the process dies.
 */
final class RootLock implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(RootLock.class.getName());

  private final FileChannel channel;
  private final FileLock lock;

  private RootLock(FileChannel channel, FileLock lock) {
    this.channel = channel;
    this.lock = lock;
  }

  static RootLock acquire(Path root) throws IOException {
    Path file = root.resolve("lock");
    FileChannel ch =
        FileChannel.open(
            file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      FileLock lock = ch.tryLock();
      if (lock == null) {
        String owner = Files.readString(file, StandardCharsets.UTF_8).trim();
        throw new UnavailableException(
            "snapshotter root "
                + root
                + " is in use by another process"
                + (owner.isEmpty() ? "" : " (pid " + owner + ")"));
      }
      ch.truncate(0);
      ch.write(
          ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)),
          0);
      return new RootLock(ch, lock);
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  @Override
  public void close() {
    try {
      if (lock.isValid()) {
        lock.release();
      }
      channel.close();
    } catch (IOException e) {
      LOG.log(Level.WARNING, "release snapshotter root lock", e);
    }
  }
}
