package dev.obd.snapshotter.storage;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Usage;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongPredicate;

/**
 * The durable half of the metadata store: one SQLite connection in WAL mode with {@code
 * synchronous=FULL}, so that a transaction acknowledged by COMMIT survives {@code kill -9} and
 * power loss. Not thread-safe; {@link MetaStore} serializes access.
 */
final class Database implements AutoCloseable {
  static final int SCHEMA_VERSION = 2;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final TypeReference<TreeMap<String, String>> LABELS = new TypeReference<>() {};

  private final Path file;
  private final Connection conn;
  private final PreparedStatement upsert;
  private final PreparedStatement delete;
  private final PreparedStatement upsertPending;
  private final PreparedStatement deletePending;
  private final Object readerLock = new Object();

  /** A second, read-only connection for labels the index does not hold; guarded by readerLock. */
  private Connection reader;

  private boolean closed; // guarded by readerLock

  Database(Path file) {
    this.file = file;
    SqliteNative.placeBelow(file.toAbsolutePath().getParent());
    try {
      conn = DriverManager.getConnection("jdbc:sqlite:" + file);
      try (Statement s = conn.createStatement()) {
        s.execute("PRAGMA journal_mode=WAL");
        s.execute("PRAGMA synchronous=FULL");
        s.execute("PRAGMA foreign_keys=ON");
        s.execute("PRAGMA busy_timeout=10000");
        migrate(s);
      }
      upsert =
          conn.prepareStatement(
              """
              INSERT INTO snapshots(id, key, parent_id, kind, labels, created_ns, updated_ns,
                                    usage_size, usage_inodes, storage_type, device)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
              ON CONFLICT(id) DO UPDATE SET
                key = excluded.key, parent_id = excluded.parent_id, kind = excluded.kind,
                labels = excluded.labels, created_ns = excluded.created_ns,
                updated_ns = excluded.updated_ns, usage_size = excluded.usage_size,
                usage_inodes = excluded.usage_inodes, storage_type = excluded.storage_type,
                device = excluded.device
              """);
      delete = conn.prepareStatement("DELETE FROM snapshots WHERE id = ?");
      upsertPending =
          conn.prepareStatement(
              """
              INSERT INTO pending_detaches(id, config, device, since_ns, attempts, last_error)
              VALUES (?, ?, ?, ?, ?, ?)
              ON CONFLICT(id) DO UPDATE SET
                config = excluded.config, device = excluded.device,
                since_ns = excluded.since_ns, attempts = excluded.attempts,
                last_error = excluded.last_error
              """);
      deletePending = conn.prepareStatement("DELETE FROM pending_detaches WHERE id = ?");
    } catch (SQLException e) {
      throw new StorageException("open metadata database " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Creates or upgrades the schema. Besides containerd's snapshot fields, each row has room for the
   * OverlayBD state of a snapshot: its storage type and its attached device. Version 2 adds the
   * devices whose detach failed and is retried ({@link PendingDetach}).
   */
  private static void migrate(Statement s) throws SQLException {
    int version;
    try (ResultSet rs = s.executeQuery("PRAGMA user_version")) {
      version = rs.getInt(1);
    }
    if (version > SCHEMA_VERSION) {
      throw new SQLException(
          "schema version "
              + version
              + " is newer than this obd-snapshotter understands ("
              + SCHEMA_VERSION
              + "); refusing to downgrade");
    }
    if (version == 0) {
      s.execute("BEGIN IMMEDIATE");
      s.execute(
          """
          CREATE TABLE snapshots (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            key          TEXT    NOT NULL UNIQUE,
            parent_id    INTEGER REFERENCES snapshots(id),
            kind         INTEGER NOT NULL,
            labels       TEXT    NOT NULL DEFAULT '{}',
            created_ns   INTEGER NOT NULL,
            updated_ns   INTEGER NOT NULL,
            usage_size   INTEGER NOT NULL DEFAULT 0,
            usage_inodes INTEGER NOT NULL DEFAULT 0,
            storage_type INTEGER NOT NULL DEFAULT 1,
            device       TEXT NOT NULL DEFAULT ''
          )""");
      s.execute("CREATE INDEX snapshots_by_parent ON snapshots(parent_id)");
      createPendingDetaches(s);
      s.execute("PRAGMA user_version = " + SCHEMA_VERSION);
      s.execute("COMMIT");
    } else if (version == 1) {
      s.execute("BEGIN IMMEDIATE");
      createPendingDetaches(s);
      s.execute("PRAGMA user_version = " + SCHEMA_VERSION);
      s.execute("COMMIT");
    }
  }

  private static void createPendingDetaches(Statement s) throws SQLException {
    s.execute(
        """
        CREATE TABLE pending_detaches (
          id         INTEGER PRIMARY KEY,
          config     TEXT    NOT NULL,
          device     TEXT    NOT NULL,
          since_ns   INTEGER NOT NULL,
          attempts   INTEGER NOT NULL DEFAULT 0,
          last_error TEXT    NOT NULL DEFAULT ''
        )""");
  }

  /**
   * Calls {@code sink} with every stored snapshot. The labels of a snapshot are decoded only while
   * {@code decodeLabels} says there is room for labels of that many bytes (of JSON); the others get
   * labels read from the database when used.
   */
  void loadAll(Consumer<SnapshotRecord> sink, LongPredicate decodeLabels) {
    try (Statement s = conn.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT id, key, parent_id, kind, length(labels), created_ns, updated_ns,"
                    + " usage_size, usage_inodes, storage_type, coalesce(device, ''), labels,"
                    + " json_extract(labels, '$.\""
                    + SpilledLabels.SNAPSHOT_REF
                    + "\"')"
                    + " FROM snapshots")) {
      while (rs.next()) {
        long id = rs.getLong(1);
        // only the labels that fit are read at all (a NULL parent reads as 0)
        Map<String, String> labels =
            decodeLabels.test(rs.getLong(5))
                ? decodeLabels(rs.getString(12))
                : new SpilledLabels(id, this::loadLabels, rs.getString(13));
        sink.accept(
            new SnapshotRecord(
                id,
                rs.getString(2),
                rs.getLong(3),
                Kind.fromCode(rs.getInt(4)),
                labels,
                instant(rs.getLong(6)),
                instant(rs.getLong(7)),
                new Usage(rs.getLong(8), rs.getLong(9)),
                StorageType.fromCode(rs.getInt(10)),
                rs.getString(11)));
      }
    } catch (SQLException e) {
      throw failure("read metadata", e);
    }
  }

  /** Calls {@code sink} with every stored pending detach. */
  void loadPending(Consumer<PendingDetach> sink) {
    try (Statement s = conn.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT id, config, device, since_ns, attempts, last_error FROM pending_detaches")) {
      while (rs.next()) {
        sink.accept(
            new PendingDetach(
                rs.getLong(1),
                rs.getString(2),
                rs.getString(3),
                instant(rs.getLong(4)),
                rs.getInt(5),
                rs.getString(6)));
      }
    } catch (SQLException e) {
      throw failure("read pending detaches", e);
    }
  }

  /**
   * The labels stored for snapshot {@code id} (empty when it is gone), read over a separate
   * read-only connection: in WAL mode it never waits for the writer, and sees the last committed
   * state. Thread-safe.
   */
  Map<String, String> loadLabels(long id) {
    synchronized (readerLock) {
      try {
        if (closed) {
          throw new SQLException("the database is closed");
        }
        if (reader == null) {
          org.sqlite.SQLiteConfig config = new org.sqlite.SQLiteConfig();
          config.setReadOnly(true);
          reader = config.createConnection("jdbc:sqlite:" + file);
        }
        try (PreparedStatement q =
            reader.prepareStatement("SELECT labels FROM snapshots WHERE id = ?")) {
          q.setLong(1, id);
          try (ResultSet rs = q.executeQuery()) {
            return rs.next() ? decodeLabels(rs.getString(1)) : Map.of();
          }
        }
      } catch (SQLException e) {
        throw failure("read labels of snapshot " + id, e);
      }
    }
  }

  void upsertPending(PendingDetach p) {
    try {
      upsertPending.setLong(1, p.id());
      upsertPending.setString(2, p.config());
      upsertPending.setString(3, p.device());
      upsertPending.setLong(4, nanos(p.since()));
      upsertPending.setInt(5, p.attempts());
      upsertPending.setString(6, p.lastError());
      upsertPending.executeUpdate();
    } catch (SQLException e) {
      throw failure("record pending detach of " + p.id(), e);
    }
  }

  void deletePending(long id) {
    try {
      deletePending.setLong(1, id);
      deletePending.executeUpdate();
    } catch (SQLException e) {
      throw failure("forget pending detach of " + id, e);
    }
  }

  /** The highest id ever handed out (AUTOINCREMENT remembers deleted ones). */
  long highestId() {
    try (Statement s = conn.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'snapshots'), 0),"
                    + " coalesce((SELECT max(id) FROM snapshots), 0))")) {
      return rs.getLong(1);
    } catch (SQLException e) {
      throw failure("read id sequence", e);
    }
  }

  void begin() {
    exec("BEGIN IMMEDIATE", "begin transaction");
  }

  void commit() {
    exec("COMMIT", "commit transaction");
  }

  /**
   * Rolls back the open transaction, if any (a failed COMMIT may already have ended it), reporting
   * failures to {@code onError} rather than hiding the error that caused the rollback.
   */
  void rollback(Consumer<SQLException> onError) {
    try (Statement s = conn.createStatement()) {
      s.execute("ROLLBACK");
    } catch (SQLException e) {
      if (!String.valueOf(e.getMessage()).contains("no transaction is active")) {
        onError.accept(e);
      }
    }
  }

  void upsert(SnapshotRecord r) {
    try {
      upsert.setLong(1, r.id());
      upsert.setString(2, r.key());
      if (r.hasParent()) {
        upsert.setLong(3, r.parentId());
      } else {
        upsert.setNull(3, java.sql.Types.INTEGER);
      }
      upsert.setInt(4, r.kind().code());
      upsert.setString(5, encodeLabels(r.labels()));
      upsert.setLong(6, nanos(r.created()));
      upsert.setLong(7, nanos(r.updated()));
      upsert.setLong(8, r.usage().size());
      upsert.setLong(9, r.usage().inodes());
      upsert.setInt(10, r.storageType().code());
      upsert.setString(11, r.device());
      upsert.executeUpdate();
    } catch (SQLException e) {
      throw failure("write snapshot " + r.key(), e);
    }
  }

  void delete(long id) {
    try {
      delete.setLong(1, id);
      delete.executeUpdate();
    } catch (SQLException e) {
      throw failure("delete snapshot " + id, e);
    }
  }

  @Override
  public void close() {
    try {
      synchronized (readerLock) {
        closed = true;
        if (reader != null) {
          reader.close();
        }
      }
      conn.close();
    } catch (SQLException e) {
      throw failure("close", e);
    }
  }

  private void exec(String sql, String what) {
    try (Statement s = conn.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      throw failure(what, e);
    }
  }

  private StorageException failure(String what, SQLException e) {
    return new StorageException(what + " in " + file + ": " + e.getMessage(), e);
  }

  private static long nanos(Instant t) {
    return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000_000L), t.getNano());
  }

  private static Instant instant(long nanos) {
    return Instant.ofEpochSecond(
        Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  private static String encodeLabels(Map<String, String> labels) {
    try {
      return JSON.writeValueAsString(new TreeMap<>(labels));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("labels cannot be encoded", e);
    }
  }

  private static Map<String, String> decodeLabels(String json) throws SQLException {
    try {
      return JSON.readValue(json, LABELS);
    } catch (JsonProcessingException e) {
      throw new SQLException("corrupt labels column: " + e.getOriginalMessage(), e);
    }
  }
}
