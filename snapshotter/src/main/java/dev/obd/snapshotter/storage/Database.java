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

/**
 * The durable half of the metadata store: one SQLite connection in WAL mode with {@code
 * synchronous=FULL}, so that a transaction acknowledged by COMMIT survives {@code kill -9} and
 * power loss. Not thread-safe; {@link MetaStore} serializes access.
 */
final class Database implements AutoCloseable {
  static final int SCHEMA_VERSION = 1;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final TypeReference<TreeMap<String, String>> LABELS = new TypeReference<>() {};

  private final Path file;
  private final Connection conn;
  private final PreparedStatement upsert;
  private final PreparedStatement delete;

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
    } catch (SQLException e) {
      throw new StorageException("open metadata database " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Creates or upgrades the schema. Besides containerd's snapshot fields, each row has room for the
   * OverlayBD state of a snapshot: its storage type, its attached device and the number of
   * snapshots using that device.
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
      s.execute("PRAGMA user_version = " + SCHEMA_VERSION);
      s.execute("COMMIT");
    }
  }

  /** Calls {@code sink} with every stored snapshot. */
  void loadAll(Consumer<SnapshotRecord> sink) {
    try (Statement s = conn.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT id, key, parent_id, kind, labels, created_ns, updated_ns, usage_size,"
                    + " usage_inodes, storage_type, coalesce(device, '') FROM snapshots")) {
      while (rs.next()) {
        long parent = rs.getLong(3);
        sink.accept(
            new SnapshotRecord(
                rs.getLong(1),
                rs.getString(2),
                rs.wasNull() ? 0 : parent,
                Kind.fromCode(rs.getInt(4)),
                decodeLabels(rs.getString(5)),
                instant(rs.getLong(6)),
                instant(rs.getLong(7)),
                new Usage(rs.getLong(8), rs.getLong(9)),
                rs.getInt(10),
                rs.getString(11)));
      }
    } catch (SQLException e) {
      throw failure("read metadata", e);
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
      upsert.setInt(10, r.storageType());
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
