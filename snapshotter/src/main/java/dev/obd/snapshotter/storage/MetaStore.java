package dev.obd.snapshotter.storage;

import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The snapshot metadata: identity, parent chain, labels, usage and storage state of every snapshot.
 * Durable in SQLite ({@link Database}); served from memory ({@link Index}).
 *
 * <p>Thread-safe. Write transactions are serialized; each one is a single SQLite transaction,
 * acknowledged only after COMMIT. Readers never block on the database or on a writer's fsync: they
 * see the state before or after each write, never in between.
 *
 * <p>Ids are never reused: the next id is past every id the database has ever handed out, past
 * every id rolled back in this process, and past any id the owner reports finding on disk.
 */
public final class MetaStore implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(MetaStore.class.getName());

  /** A function run inside a write transaction. */
  @FunctionalInterface
  public interface TxFunction<T> {
    T apply(WriteTx tx);
  }

  private final Database db;
  private final Index index;
  private final ReentrantReadWriteLock indexLock = new ReentrantReadWriteLock();
  private final ReentrantLock writer = new ReentrantLock();
  private long nextId; // guarded by writer
  private boolean closed; // guarded by writer
  private Instant lastTime = Instant.EPOCH; // guarded by writer

  private MetaStore(Database db, long labelBudget) {
    this.db = db;
    this.index = new Index(labelBudget, db::loadLabels);
  }

  /**
   * Opens (creating if needed) the metadata database at {@code file}, holding in memory at most a
   * quarter of the heap's maximum in labels (see {@link Index}).
   */
  public static MetaStore open(Path file) {
    return open(file, Runtime.getRuntime().maxMemory() / 4);
  }

  /** Opens the database at {@code file}, holding at most {@code labelBudget} bytes of labels. */
  public static MetaStore open(Path file, long labelBudget) {
    Database db = new Database(file);
    try {
      MetaStore store = new MetaStore(db, labelBudget);
      // JSON takes more bytes than the compact form: a cautious test of the room left
      db.loadAll(store.index::put, store.index::hasRoomForLabels);
      db.loadPending(store.index::putPending);
      store.nextId = db.highestId() + 1;
      return store;
    } catch (RuntimeException e) {
      db.close();
      throw e;
    }
  }

  /** Makes sure ids handed out from now on are greater than {@code id}. */
  public void reserveIdsThrough(long id) {
    writer.lock();
    try {
      nextId = Math.max(nextId, id + 1);
    } finally {
      writer.unlock();
    }
  }

  /** Runs {@code fn} against a consistent view of the committed metadata. */
  public <T> T read(Function<ReadView, T> fn) {
    indexLock.readLock().lock();
    try {
      return fn.apply(index);
    } finally {
      indexLock.readLock().unlock();
    }
  }

  /**
   * Runs {@code fn} in a write transaction and commits it. If {@code fn} or the commit throws,
   * nothing changes, the transaction's rollback actions run and the exception propagates.
   */
  public <T> T write(TxFunction<T> fn) {
    writer.lock();
    try {
      if (closed) {
        throw new IllegalStateException("metadata store is closed");
      }
      Transaction tx = new Transaction(index, db, nextId, this::monotonicNow);
      db.begin();
      T result;
      try {
        result = fn.apply(tx);
        db.commit();
      } catch (RuntimeException | Error e) {
        nextId = Math.max(nextId, tx.nextId());
        db.rollback(
            rollbackError -> {
              LOG.log(Level.WARNING, "rollback failed", rollbackError);
              e.addSuppressed(rollbackError);
            });
        tx.rolledBack();
        throw e;
      }
      nextId = tx.nextId();
      indexLock.writeLock().lock();
      try {
        tx.publish(index);
      } finally {
        indexLock.writeLock().unlock();
      }
      return result;
    } finally {
      writer.unlock();
    }
  }

  /**
   * Wall-clock time that never goes backwards between transactions, so that "updated" is never
   * before "created" even if the clock steps.
   */
  private Instant monotonicNow() {
    Instant now = Instant.now();
    if (!now.isAfter(lastTime)) {
      now = lastTime.plusNanos(1);
    }
    lastTime = now;
    return now;
  }

  /** Closes the database. Idempotent; later calls to {@link #write} fail. */
  @Override
  public void close() {
    writer.lock();
    try {
      if (!closed) {
        closed = true;
        db.close();
      }
    } finally {
      writer.unlock();
    }
  }
}
