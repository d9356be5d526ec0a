package dev.obd.registry.cache;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RangeCacheTest {
  @TempDir Path dir;

  private final byte[] blob = new byte[20 * 4096 + 123];
  private final String hex;
  private final AtomicInteger fetches = new AtomicInteger();

  RangeCacheTest() throws Exception {
    new Random(1).nextBytes(blob);
    hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(blob));
  }

  private byte[] fetch(long off, int len) {
    fetches.incrementAndGet();
    byte[] out = new byte[len];
    System.arraycopy(blob, (int) off, out, 0, len);
    return out;
  }

  private byte[] read(RangeCache c, long pos, int len) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(len);
    c.read(hex, blob.length, pos, b, this::fetch);
    return b.array();
  }

  @Test
  void readsAcrossChunksReturnTheBlobBytesAndHitTheCacheTheSecondTime() throws Exception {
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    byte[] got = read(c, 5000, 30000);
    assertThat(got).isEqualTo(java.util.Arrays.copyOfRange(blob, 5000, 35000));
    int after = fetches.get();
    assertThat(read(c, 5000, 30000)).isEqualTo(got);
    assertThat(fetches.get()).isEqualTo(after);
    assertThat(read(c, blob.length - 100, 100))
        .isEqualTo(java.util.Arrays.copyOfRange(blob, blob.length - 100, blob.length));
  }

  @Test
  void aFullyCachedBlobIsVerifiedAgainstItsDigestAndSurvivesAReopen() throws Exception {
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    read(c, 0, blob.length);
    assertThat(c.verified(hex)).isTrue();
    RangeCache reopened = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    int before = fetches.get();
    assertThat(read(reopened, 0, blob.length)).isEqualTo(blob);
    assertThat(fetches.get()).isEqualTo(before);
    assertThat(reopened.verified(hex)).isTrue();
  }

  @Test
  void aBlobWhoseBytesDoNotMatchItsDigestIsDropped() throws Exception {
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    String wrongHex = "00".repeat(32);
    // chunk by chunk from the end, so that no read-ahead interleaves with the check
    for (int i = blob.length / 8192; i >= 0; i--) {
      ByteBuffer b = ByteBuffer.allocate(1);
      c.read(wrongHex, blob.length, (long) i * 8192, b, this::fetch);
    }
    assertThat(c.verified(wrongHex)).isFalse();
    assertThat(c.usedBytes()).isZero();
    assertThat(c.stats().corruptDetected()).isEqualTo(1);
  }

  @Test
  void theCacheStaysWithinItsSizeBoundByEvictingTheLeastRecentlyUsedChunks() throws Exception {
    long bound = 3 * ChunkFile.fileSize(8192);
    RangeCache c = RangeCache.open(dir, bound, 8192, Runnable::run);
    // non-sequential order, so that no read-ahead runs
    read(c, 2 * 8192, 10); // chunk 2
    read(c, 0, 10); // chunk 0
    read(c, 4 * 8192, 10); // chunk 4
    read(c, 2 * 8192, 10); // chunk 2 used again
    read(c, 6 * 8192, 10); // chunk 6 evicts chunk 0, the least recently used
    assertThat(c.usedBytes()).isLessThanOrEqualTo(bound);
    assertThat(Files.exists(dir.resolve(hex).resolve("0"))).isFalse();
    assertThat(Files.exists(dir.resolve(hex).resolve("2"))).isTrue();
  }

  @Test
  void aSequentialReaderGetsTheNextChunksFetchedAhead() throws Exception {
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    read(c, 0, 10);
    read(c, 8192, 10); // continues a sequential run: chunks 2..5 are fetched ahead
    long missesBefore = c.stats().misses();
    long hitsBefore = c.stats().hits();
    assertThat(read(c, 2 * 8192, 3 * 8192))
        .isEqualTo(java.util.Arrays.copyOfRange(blob, 2 * 8192, 5 * 8192));
    assertThat(c.stats().misses())
        .as("the reader never waited for the registry")
        .isEqualTo(missesBefore);
    assertThat(c.stats().hits()).isEqualTo(hitsBefore + 3);
  }

  @Test
  void readsPastTheEndOfTheBlobFailInsteadOfLooping() throws Exception {
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> read(c, blob.length - 10, 20))
        .isInstanceOf(java.io.EOFException.class);
  }

  @Test
  void concurrentMissesOfOneChunkShareOneFetch() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    RangeCache c = RangeCache.open(dir, 1 << 20, 8192, Runnable::run);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<byte[]>> f = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        f.add(
            pool.submit(
                () -> {
                  ByteBuffer b = ByteBuffer.allocate(100);
                  c.read(
                      hex,
                      blob.length,
                      100,
                      b,
                      (off, len) -> {
                        try {
                          release.await(5, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                          throw new IOException(e);
                        }
                        return fetch(off, len);
                      });
                  return b.array();
                }));
      }
      Thread.sleep(200);
      release.countDown();
      for (Future<byte[]> x : f) {
        assertThat(x.get(10, TimeUnit.SECONDS))
            .isEqualTo(java.util.Arrays.copyOfRange(blob, 100, 200));
      }
      assertThat(fetches.get()).isEqualTo(1);
    } finally {
      pool.shutdownNow();
    }
  }
}
