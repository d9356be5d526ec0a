package dev.obd.backstore.prefetch;

import dev.obd.backstore.config.DownloadConfig;
import dev.obd.image.FileByteSource;
import dev.obd.image.LayerFiles;
import dev.obd.registry.BlobUrl;
import dev.obd.registry.RegistryClient;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Upstream's background download: after {@code delay} + random({@code delayExtra}) seconds a remote
 * layer is copied whole, at most {@code maxMBps}, into {@code <dir>/.download}, checked against its
 * digest, renamed to {@code <dir>/overlaybd.commit}, and the layer's reads switch to it. Up to
 * {@code tryCnt} attempts. Runs on the shared scheduler; {@link #cancel} stops it.
 */
public final class BackgroundDownloader {
  private static final Logger LOG = Logger.getLogger(BackgroundDownloader.class.getName());

  private final ScheduledFuture<?> task;

  private BackgroundDownloader(ScheduledFuture<?> task) {
    this.task = task;
  }

  public static BackgroundDownloader schedule(
      ScheduledExecutorService scheduler,
      DownloadConfig config,
      RegistryClient client,
      BlobUrl blob,
      long size,
      Path dir,
      SwitchableSource source) {
    long delayMs =
        TimeUnit.SECONDS.toMillis(config.delay())
            + (config.delayExtra() > 0
                ? ThreadLocalRandom.current()
                    .nextLong(TimeUnit.SECONDS.toMillis(config.delayExtra()))
                : 0);
    ScheduledFuture<?> f =
        scheduler.schedule(
            () -> run(config, client, blob, size, dir, source), delayMs, TimeUnit.MILLISECONDS);
    return new BackgroundDownloader(f);
  }

  private static void run(
      DownloadConfig config,
      RegistryClient client,
      BlobUrl blob,
      long size,
      Path dir,
      SwitchableSource source) {
    for (int attempt = 1; attempt <= config.tryCnt(); attempt++) {
      try {
        Path done = download(config, client, blob, size, dir);
        source.switchTo(FileByteSource.open(done));
        LOG.info("downloaded " + blob.describe() + " to " + done + "; reads now local");
        return;
      } catch (IOException e) {
        LOG.warning(
            "background download of "
                + blob.describe()
                + " (attempt "
                + attempt
                + " of "
                + config.tryCnt()
                + "): "
                + e.getMessage());
      } catch (RuntimeException e) {
        LOG.warning("background download of " + blob.describe() + " failed: " + e);
        return;
      }
      if (Thread.currentThread().isInterrupted()) {
        return;
      }
    }
  }

  static Path download(
      DownloadConfig config, RegistryClient client, BlobUrl blob, long size, Path dir)
      throws IOException {
    Files.createDirectories(dir);
    Path tmp = dir.resolve(".download");
    Path target = dir.resolve(LayerFiles.COMMIT);
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long bytesPerSecond = config.maxMBps() * 1_000_000L;
    long start = System.nanoTime();
    try (OutputStream out = Files.newOutputStream(tmp)) {
      for (long off = 0; off < size; ) {
        int n = (int) Math.min(config.blockSize(), size - off);
        byte[] data = client.read(blob, off, n);
        sha.update(data);
        out.write(data);
        off += n;
        long dueNanos = (long) (off * 1e9 / bytesPerSecond);
        long ahead = dueNanos - (System.nanoTime() - start);
        if (ahead > 0) {
          try {
            TimeUnit.NANOSECONDS.sleep(ahead);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
          }
        }
      }
    }
    String actual = "sha256:" + HexFormat.of().formatHex(sha.digest());
    if (!actual.equals(blob.digest())) {
      Files.deleteIfExists(tmp);
      throw new IOException("downloaded bytes hash to " + actual + ", not " + blob.digest());
    }
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    return target;
  }

  public void cancel() {
    task.cancel(true);
  }
}
