package dev.obd.registry.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.obd.image.oci.Digest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A persistent cache of registry blob bytes, kept as fixed-size chunks (upstream's {@code
 * refillSize}, 256 KiB by default) under {@code dir/<hex>/<chunk index>}. Bounded in bytes; the
 * least recently used chunks are deleted first (order restored from file times after a restart).
 * Concurrent misses of one chunk share one fetch. Every read is checked against per-page checksums;
 * a damaged chunk is deleted and fetched again. When the last chunk of a blob arrives, the whole
 * blob is checked against its digest in the background and dropped if it does not match.
 *
 * <p>Thread-safe. The index is exact LRU over chunk files (a LinkedHashMap under a lock): chunk
 * reads are disk reads, so the lock is never the bottleneck.
 */
public final class RangeCache {
  private static final Logger LOG = Logger.getLogger(RangeCache.class.getName());

  private final Path dir;
  private final long capacity;
  private final int chunkSize;
  private final Executor verifier;
  private final Executor background;

  /** How far ahead of a sequential reader chunks are kept cached or in flight. */
  static final int READ_AHEAD_WINDOW = 8;

  /** Chunks fetched by one read-ahead request. */
  static final int READ_AHEAD_BATCH = 4;

  /**
   * The cached chunks; a chunk stored again gets a new {@link Entry}, so a reader can tell that the
   * file it read through was replaced or dropped meanwhile (identity, not equality).
   */
  private final LinkedHashMap<ChunkKey, Entry> lru = new LinkedHashMap<>(1024, 0.75f, true);

  private final Map<String, Integer> chunksPerBlob = new HashMap<>();
  private final Set<String> verifiedBlobs = ConcurrentHashMap.newKeySet();
  private final ConcurrentHashMap<ChunkKey, CompletableFuture<byte[]>> fills =
      new ConcurrentHashMap<>();

  /** Open channels of recently read chunks, closed when they fall out. */
  private final Cache<ChunkKey, FileChannel> channels =
      Caffeine.newBuilder()
          .maximumSize(512)
          .<ChunkKey, FileChannel>removalListener(
              (k, ch, cause) -> {
                try {
                  if (ch != null) {
                    ch.close();
                  }
                } catch (IOException e) {
                  LOG.fine("close cached chunk " + k + ": " + e);
                }
              })
          .build();

  private long used;

  private final LongAdder hits = new LongAdder();
  private final LongAdder misses = new LongAdder();
  private final LongAdder corrupt = new LongAdder();

  /** Fetches {@code length} bytes at {@code offset} of a blob from its origin. */
  @FunctionalInterface
  public interface Fetcher {
    byte[] fetch(long offset, int length) throws IOException;
  }

  record ChunkKey(String hex, long index) {}

  /** One stored chunk file of {@code size} bytes. Compared by identity. */
  private static final class Entry {
    final long size;

    Entry(long size) {
      this.size = size;
    }
  }

  private RangeCache(Path dir, long capacity, int chunkSize, Executor verifier) {
    this.dir = dir;
    this.capacity = capacity;
    this.chunkSize = chunkSize;
    this.verifier = verifier;
    this.background = verifier;
  }

  /**
   * Opens (or creates) the cache in {@code dir}, indexing the chunks already there; temporary files
   * of interrupted fills are deleted.
   */
  public static RangeCache open(Path dir, long capacity, int chunkSize, Executor verifier)
      throws IOException {
    Files.createDirectories(dir);
    RangeCache c = new RangeCache(dir, capacity, chunkSize, verifier);
    c.load();
    return c;
  }

  public int chunkSize() {
    return chunkSize;
  }

  public Path dir() {
    return dir;
  }

  private void load() throws IOException {
    record Found(ChunkKey key, long size, FileTime time) {}
    List<Found> found = new ArrayList<>();
    try (Stream<Path> blobs = Files.list(dir)) {
      for (Path blobDir : (Iterable<Path>) blobs::iterator) {
        String hex = blobDir.getFileName().toString();
        if (!Files.isDirectory(blobDir) || !Digest.isHex(hex)) {
          continue;
        }
        if (Files.exists(blobDir.resolve("verified"))) {
          verifiedBlobs.add(hex);
        }
        try (Stream<Path> files = Files.list(blobDir)) {
          for (Path f : (Iterable<Path>) files::iterator) {
            String name = f.getFileName().toString();
            if (name.startsWith(".tmp-")) {
              Files.deleteIfExists(f);
            } else if (name.matches("\\d+")) {
              found.add(
                  new Found(
                      new ChunkKey(hex, Long.parseLong(name)),
                      Files.size(f),
                      Files.getLastModifiedTime(f)));
            }
          }
        }
      }
    }
    found.sort(Comparator.comparing(Found::time));
    synchronized (this) {
      for (Found f : found) {
        lru.put(f.key(), new Entry(f.size()));
        chunksPerBlob.merge(f.key().hex(), 1, Integer::sum);
        used += f.size();
      }
      evict();
    }
  }

  /**
   * Fills {@code dst} with the blob's bytes at {@code position}, from the cache where present and
   * from {@code fetcher} (whole chunks) where not.
   */
  public void read(String hex, long blobSize, long position, ByteBuffer dst, Fetcher fetcher)
      throws IOException {
    if (position < 0 || position + dst.remaining() > blobSize) {
      throw new java.io.EOFException(
          "read of "
              + dst.remaining()
              + " bytes at "
              + position
              + " past the blob end "
              + blobSize);
    }
    while (dst.hasRemaining()) {
      long index = position / chunkSize;
      int inChunk = (int) (position - index * chunkSize);
      int chunkLength = (int) Math.min(chunkSize, blobSize - index * chunkSize);
      if (chunkLength <= 0) {
        throw new java.io.EOFException("read at " + position + " past the blob end " + blobSize);
      }
      int n = Math.min(dst.remaining(), chunkLength - inChunk);
      ByteBuffer slice = dst.slice().limit(n);
      readChunk(new ChunkKey(hex, index), chunkLength, inChunk, slice, blobSize, fetcher);
      dst.position(dst.position() + n);
      position += n;
    }
  }

  /**
   * Reads through an open channel kept in {@link #channels}, so a hot chunk costs one pread and the
   * checksums of the pages read, not an open and close per read. A channel closed by eviction under
   * a reader is simply reopened. Returns false when the chunk was dropped or stored again while it
   * was read ({@code entry} is no longer current): the bytes read may be the old file's, and a
   * channel this call cached may point at it, so it is removed and the caller fetches instead.
   */
  private boolean readCached(
      ChunkKey key, Entry entry, Path file, int chunkLength, int offset, ByteBuffer dst)
      throws IOException {
    for (int attempt = 0; ; attempt++) {
      FileChannel ch = channels.getIfPresent(key);
      if (ch == null) {
        ch = ChunkFile.open(file, chunkLength);
        FileChannel raced = channels.asMap().putIfAbsent(key, ch);
        if (raced != null) {
          ch.close();
          ch = raced;
        }
      }
      try {
        ChunkFile.read(ch, file, chunkLength, offset, dst.duplicate());
      } catch (java.nio.channels.ClosedChannelException e) {
        channels.asMap().remove(key, ch);
        if (attempt > 2) {
          throw e;
        }
        continue;
      }
      boolean current;
      synchronized (this) {
        current = lru.get(key) == entry;
      }
      if (!current && channels.asMap().remove(key, ch)) {
        ch.close();
      }
      return current;
    }
  }

  private void readChunk(
      ChunkKey key, int chunkLength, int offset, ByteBuffer dst, long blobSize, Fetcher fetcher)
      throws IOException {
    Path file = path(key);
    Entry entry;
    synchronized (this) {
      entry = lru.get(key);
    }
    if (entry != null) {
      try {
        if (readCached(key, entry, file, chunkLength, offset, dst.duplicate())) {
          hits.increment();
          if (offset < ChunkFile.PAGE) {
            readAhead(key, blobSize, fetcher);
          }
          return;
        }
      } catch (ChunkFile.CorruptChunkException e) {
        corrupt.increment();
        LOG.warning("cached chunk is damaged, fetching it again: " + e.getMessage());
        drop(key, entry);
      } catch (java.nio.file.NoSuchFileException e) {
        drop(key, entry);
      }
    }
    misses.increment();
    byte[] data = fill(key, chunkLength, blobSize, fetcher);
    dst.duplicate().put(data, offset, dst.remaining());
    readAhead(key, blobSize, fetcher);
  }

  /**
   * Keeps a sequential reader ahead of the registry: when the chunk just read (or missed) follows a
   * cached one and at least {@link #READ_AHEAD_BATCH} of the next {@link #READ_AHEAD_WINDOW} chunks
   * are neither cached nor in flight, the first run of up to {@link #READ_AHEAD_BATCH} missing
   * chunks is fetched with one range request in the background. One larger request instead of
   * several matters: a registry spends milliseconds per request, whatever its size.
   */
  private void readAhead(ChunkKey key, long blobSize, Fetcher fetcher) {
    long chunks = (blobSize + chunkSize - 1) / chunkSize;
    long first = -1;
    int missing = 0;
    synchronized (this) {
      if (key.index() == 0 || !lru.containsKey(new ChunkKey(key.hex(), key.index() - 1))) {
        return;
      }
      for (long i = key.index() + 1; i <= key.index() + READ_AHEAD_WINDOW && i < chunks; i++) {
        ChunkKey k = new ChunkKey(key.hex(), i);
        if (!lru.containsKey(k) && !fills.containsKey(k)) {
          missing++;
          if (first < 0) {
            first = i;
          }
        }
      }
    }
    if (missing < READ_AHEAD_BATCH && !(first >= 0 && first + missing >= chunks)) {
      return;
    }
    List<ChunkKey> claimed = new ArrayList<>();
    List<CompletableFuture<byte[]>> futures = new ArrayList<>();
    for (long i = first; i < first + READ_AHEAD_BATCH && i < chunks; i++) {
      ChunkKey k = new ChunkKey(key.hex(), i);
      CompletableFuture<byte[]> f = new CompletableFuture<>();
      boolean present;
      synchronized (this) {
        present = lru.containsKey(k);
      }
      if (present || fills.putIfAbsent(k, f) != null) {
        break;
      }
      claimed.add(k);
      futures.add(f);
    }
    if (claimed.isEmpty()) {
      return;
    }
    long start = first * chunkSize;
    long end = Math.min(blobSize, (first + claimed.size()) * (long) chunkSize);
    Runnable task =
        () -> {
          try {
            byte[] all = fetcher.fetch(start, (int) (end - start));
            for (int n = 0; n < claimed.size(); n++) {
              int from = n * chunkSize;
              int len = Math.min(chunkSize, all.length - from);
              byte[] part = java.util.Arrays.copyOfRange(all, from, from + len);
              store(claimed.get(n), part, blobSize);
              futures.get(n).complete(part);
            }
          } catch (IOException | RuntimeException e) {
            LOG.fine(
                "read-ahead of chunks from "
                    + claimed.get(0).index()
                    + " failed: "
                    + e.getMessage());
            futures.forEach(f -> f.completeExceptionally(e));
          } finally {
            for (int n = 0; n < claimed.size(); n++) {
              fills.remove(claimed.get(n), futures.get(n));
            }
          }
        };
    try {
      background.execute(task);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      futures.forEach(f -> f.completeExceptionally(new IOException("read-ahead rejected")));
      for (int n = 0; n < claimed.size(); n++) {
        fills.remove(claimed.get(n), futures.get(n));
      }
    }
  }

  private byte[] fill(ChunkKey key, int chunkLength, long blobSize, Fetcher fetcher)
      throws IOException {
    CompletableFuture<byte[]> mine = new CompletableFuture<>();
    CompletableFuture<byte[]> running = fills.putIfAbsent(key, mine);
    if (running != null) {
      try {
        return running.get();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof IOException io) {
          throw io;
        }
        throw new IOException(e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted waiting for a cache fill", e);
      }
    }
    try {
      byte[] data = fetcher.fetch(key.index() * chunkSize, chunkLength);
      store(key, data, blobSize);
      mine.complete(data);
      return data;
    } catch (IOException | RuntimeException e) {
      mine.completeExceptionally(e);
      throw e;
    } finally {
      fills.remove(key, mine);
    }
  }

  private void store(ChunkKey key, byte[] data, long blobSize) {
    try {
      ChunkFile.write(path(key), data);
    } catch (IOException e) {
      LOG.warning("could not cache chunk " + key.index() + " of blob " + key.hex() + ": " + e);
      return;
    }
    boolean complete;
    synchronized (this) {
      long size = ChunkFile.fileSize(data.length);
      Entry old = lru.put(key, new Entry(size));
      if (old == null) {
        used += size;
        chunksPerBlob.merge(key.hex(), 1, Integer::sum);
      } else {
        used += size - old.size;
        // the file was replaced: a cached channel reads the old one
        channels.invalidate(key);
        unverify(key.hex());
      }
      long chunks = (blobSize + chunkSize - 1) / chunkSize;
      complete = chunksPerBlob.getOrDefault(key.hex(), 0) == chunks;
      evict();
    }
    if (complete && !verifiedBlobs.contains(key.hex())) {
      verifier.execute(() -> verify(key.hex(), blobSize));
    }
  }

  /** Checks a fully cached blob against its digest; drops it on a mismatch. */
  void verify(String hex, long blobSize) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      long chunks = (blobSize + chunkSize - 1) / chunkSize;
      for (long i = 0; i < chunks; i++) {
        int len = (int) Math.min(chunkSize, blobSize - i * chunkSize);
        sha.update(ChunkFile.readAll(path(new ChunkKey(hex, i)), len));
      }
      String actual = HexFormat.of().formatHex(sha.digest());
      if (actual.equals(hex)) {
        verifiedBlobs.add(hex);
        Files.writeString(dir.resolve(hex).resolve("verified"), "sha256:" + hex + "\n");
        LOG.fine("blob sha256:" + hex + " fully cached and verified");
      } else {
        corrupt.increment();
        LOG.warning(
            "cached blob sha256:"
                + hex
                + " hashes to sha256:"
                + actual
                + "; dropping it from the cache");
        dropBlob(hex);
      }
    } catch (IOException e) {
      LOG.log(Level.FINE, "could not verify blob sha256:" + hex + " (chunk evicted or damaged)", e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whether every chunk of the blob is cached and the whole was checked against the digest. */
  public boolean verified(String hex) {
    return verifiedBlobs.contains(hex);
  }

  private void evict() {
    Iterator<Map.Entry<ChunkKey, Entry>> it = lru.entrySet().iterator();
    while (used > capacity && it.hasNext()) {
      Map.Entry<ChunkKey, Entry> e = it.next();
      if (fills.containsKey(e.getKey())) {
        continue;
      }
      it.remove();
      channels.invalidate(e.getKey());
      used -= e.getValue().size;
      chunksPerBlob.merge(e.getKey().hex(), -1, Integer::sum);
      unverify(e.getKey().hex());
      deleteQuietly(path(e.getKey()));
    }
  }

  /** Drops the chunk whatever its entry. */
  private void drop(ChunkKey key) {
    drop(key, null);
  }

  /**
   * Drops the chunk if its entry is still {@code expected} (any entry when null): a reader that
   * found a damaged file must not delete the good one another thread stored since.
   */
  private synchronized void drop(ChunkKey key, Entry expected) {
    Entry e = lru.get(key);
    if (e == null || (expected != null && e != expected)) {
      return;
    }
    lru.remove(key);
    channels.invalidate(key);
    used -= e.size;
    chunksPerBlob.merge(key.hex(), -1, Integer::sum);
    unverify(key.hex());
    deleteQuietly(path(key));
  }

  /**
   * Forgets the cached chunks holding bytes {@code [position, position + length)} of the blob, so
   * the next read fetches them again. For bytes that fail a check of the layer format (a ZFile
   * block CRC): the cache's own page checksums prove only that bytes are as they arrived, not that
   * they arrived right, and a bad range kept here would fail every read of it until the whole blob
   * was cached and its digest checked.
   */
  public void discard(String hex, long blobSize, long position, long length) {
    if (length <= 0) {
      return;
    }
    long first = Math.max(0, position) / chunkSize;
    long last = Math.min(blobSize - 1, position + length - 1) / chunkSize;
    for (long i = first; i <= last; i++) {
      drop(new ChunkKey(hex, i));
    }
  }

  /** Forgets every cached chunk of the blob (a layer whose format checks failed at open). */
  public void discardBlob(String hex) {
    dropBlob(hex);
  }

  private void dropBlob(String hex) {
    List<ChunkKey> keys;
    synchronized (this) {
      keys = lru.keySet().stream().filter(k -> k.hex().equals(hex)).toList();
    }
    keys.forEach(this::drop);
  }

  private void unverify(String hex) {
    if (verifiedBlobs.remove(hex)) {
      deleteQuietly(dir.resolve(hex).resolve("verified"));
    }
  }

  private static void deleteQuietly(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      throw new UncheckedIOException("delete cache file " + p, e);
    }
  }

  Path path(ChunkKey key) {
    return dir.resolve(key.hex()).resolve(Long.toString(key.index()));
  }

  /** Bytes of chunk files the cache holds. */
  public synchronized long usedBytes() {
    return used;
  }

  public long capacity() {
    return capacity;
  }

  public Stats stats() {
    return new Stats(hits.sum(), misses.sum(), corrupt.sum(), usedBytes(), capacity);
  }

  /** Counters for the control API. */
  public record Stats(
      long hits, long misses, long corruptDetected, long usedBytes, long capacity) {}
}
