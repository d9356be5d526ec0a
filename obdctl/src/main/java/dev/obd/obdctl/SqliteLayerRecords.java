package dev.obd.obdctl;

import dev.obd.image.convert.LayerRecords;
import dev.obd.image.oci.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link LayerRecords} in a SQLite file, shared by the conversions of one user (and safe for
 * several at once: SQLite locks, writers wait up to 10 s). One row per chain ID, options and
 * location; nothing secret is stored.
 */
final class SqliteLayerRecords implements LayerRecords {
  static final int SCHEMA_VERSION = 1;

  private final Path file;
  private final Connection conn;
  private final PreparedStatement find;
  private final PreparedStatement upsert;

  private SqliteLayerRecords(Path file, Connection conn) throws SQLException {
    this.file = file;
    this.conn = conn;
    find =
        conn.prepareStatement(
            """
            SELECT location, digest, size FROM layers
            WHERE chain_id = ? AND options = ?
            ORDER BY location = ? DESC, made_ms DESC
            LIMIT 20
            """);
    upsert =
        conn.prepareStatement(
            """
            INSERT INTO layers(chain_id, options, location, digest, size, made_ms)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(chain_id, options, location) DO UPDATE SET
              digest = excluded.digest, size = excluded.size, made_ms = excluded.made_ms
            """);
  }

  /** Opens {@code file}, creating it and its directory (private to the user) when missing. */
  static SqliteLayerRecords open(Path file) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    try {
      if (!Files.isDirectory(dir)) {
        Files.createDirectories(
            dir,
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      }
      placeNativeLibrary(dir);
    } catch (IOException e) {
      // the JDK's messages for these name only a path
      throw new IOException(
          "open the layer records "
              + file
              + ": cannot create "
              + dir
              + " ("
              + e.getClass().getSimpleName().replace("Exception", "")
              + ": "
              + e.getMessage()
              + "); name another file with --db, or convert without records with --no-reuse",
          e);
    }
    Connection conn = null;
    try {
      conn = DriverManager.getConnection("jdbc:sqlite:" + file);
      try (Statement s = conn.createStatement()) {
        s.execute("PRAGMA busy_timeout=10000");
        s.execute("PRAGMA journal_mode=WAL");
        migrate(s);
      }
      return new SqliteLayerRecords(file, conn);
    } catch (SQLException e) {
      if (conn != null) {
        try {
          conn.close();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw new IOException("open the layer records " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * sqlite-jdbc unpacks its native library into java.io.tmpdir unless told otherwise; a noexec /tmp
   * would stop obdctl, so it goes next to the database.
   */
  private static synchronized void placeNativeLibrary(Path dir) throws IOException {
    if (System.getProperty("org.sqlite.tmpdir") == null) {
      Path n = Files.createDirectories(dir.resolve(".native"));
      System.setProperty("org.sqlite.tmpdir", n.toString());
    }
  }

  private static void migrate(Statement s) throws SQLException {
    int version;
    try (ResultSet rs = s.executeQuery("PRAGMA user_version")) {
      version = rs.getInt(1);
    }
    if (version > SCHEMA_VERSION) {
      throw new SQLException(
          "schema version " + version + " is newer than this obdctl understands");
    }
    if (version == 0) {
      s.execute("BEGIN IMMEDIATE");
      s.execute(
          """
          CREATE TABLE IF NOT EXISTS layers (
            chain_id TEXT    NOT NULL,
            options  TEXT    NOT NULL,
            location TEXT    NOT NULL,
            digest   TEXT    NOT NULL,
            size     INTEGER NOT NULL,
            made_ms  INTEGER NOT NULL,
            PRIMARY KEY (chain_id, options, location)
          )
          """);
      s.execute("PRAGMA user_version = " + SCHEMA_VERSION);
      s.execute("COMMIT");
    }
  }

  @Override
  public List<Made> find(Digest chainId, String options, String near) throws IOException {
    List<Made> out = new ArrayList<>();
    try {
      find.setString(1, chainId.toString());
      find.setString(2, options);
      find.setString(3, near);
      try (ResultSet rs = find.executeQuery()) {
        while (rs.next()) {
          Digest digest;
          try {
            digest = Digest.parse(rs.getString(2));
          } catch (IllegalArgumentException e) {
            continue; // a row no obdctl wrote
          }
          out.add(new Made(chainId, options, rs.getString(1), digest, rs.getLong(3)));
        }
      }
    } catch (SQLException e) {
      throw new IOException("read the layer records " + file + ": " + e.getMessage(), e);
    }
    return out;
  }

  @Override
  public void remember(Made made) throws IOException {
    try {
      upsert.setString(1, made.chainId().toString());
      upsert.setString(2, made.options());
      upsert.setString(3, made.location());
      upsert.setString(4, made.digest().toString());
      upsert.setLong(5, made.size());
      upsert.setLong(6, System.currentTimeMillis());
      upsert.executeUpdate();
    } catch (SQLException e) {
      throw new IOException("write the layer records " + file + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() throws IOException {
    try {
      conn.close();
    } catch (SQLException e) {
      throw new IOException("close the layer records " + file + ": " + e.getMessage(), e);
    }
  }
}
