package dev.obd.snapshotter.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.AlreadyExistsException;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Usage;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetaStoreTest {
  @TempDir Path dir;

  private MetaStore open() {
    return MetaStore.open(dir.resolve("metadata.sqlite"));
  }

  @Test
  void committedChangesSurviveReopeningWithTheSameIdsAndTimes() {
    SnapshotRecord committed;
    SnapshotRecord child;
    try (MetaStore s = open()) {
      s.write(tx -> tx.create(Kind.ACTIVE, "a", "", Map.of("x", "1")));
      committed =
          s.write(tx -> tx.commitActive("a", "c", new Usage(4096, 2), Map.of("y", "2"), ""));
      child = s.write(tx -> tx.create(Kind.VIEW, "v", "c", Map.of()));
    }
    try (MetaStore s = open()) {
      SnapshotRecord c = s.read(v -> v.require("c"));
      SnapshotRecord v2 = s.read(v -> v.require("v"));
      String parent = s.read(v -> v.parentKey(v.require("v")));
      boolean activeGone = s.read(v -> v.get("a").isEmpty());
      assertThat(c).isEqualTo(committed);
      assertThat(v2).isEqualTo(child);
      assertThat(parent).isEqualTo("c");
      assertThat(activeGone).isTrue();
    }
  }

  @Test
  void idsAreNeverReusedNotEvenAfterRemovalRollbackOrReopen() {
    long first;
    try (MetaStore s = open()) {
      first = s.write(tx -> tx.create(Kind.ACTIVE, "a", "", Map.of())).id();
      s.write(tx -> tx.remove("a"));
      assertThatThrownBy(
              () ->
                  s.write(
                      tx -> {
                        tx.create(Kind.ACTIVE, "b", "", Map.of());
                        throw new IllegalStateException("abort");
                      }))
          .hasMessage("abort");
      long third = s.write(tx -> tx.create(Kind.ACTIVE, "c", "", Map.of())).id();
      assertThat(third).isEqualTo(first + 2);
      s.write(tx -> tx.remove("c"));
    }
    try (MetaStore s = open()) {
      assertThat(s.write(tx -> tx.create(Kind.ACTIVE, "d", "", Map.of())).id())
          .isEqualTo(first + 3);
      s.reserveIdsThrough(100);
      assertThat(s.write(tx -> tx.create(Kind.ACTIVE, "e", "", Map.of())).id()).isEqualTo(101);
    }
  }

  @Test
  void aFailedTransactionChangesNothingAndRunsItsRollbackActions() {
    try (MetaStore s = open()) {
      s.write(tx -> tx.create(Kind.ACTIVE, "keep", "", Map.of()));
      boolean[] undone = {false};
      assertThatThrownBy(
              () ->
                  s.write(
                      tx -> {
                        tx.remove("keep");
                        tx.create(Kind.ACTIVE, "new", "", Map.of());
                        tx.onRollback(() -> undone[0] = true);
                        throw new IllegalStateException("late failure");
                      }))
          .hasMessage("late failure");
      assertThat(undone[0]).isTrue();
      boolean kept = s.read(v -> v.get("keep").isPresent());
      boolean created = s.read(v -> v.get("new").isPresent());
      assertThat(kept).isTrue();
      assertThat(created).isFalse();
    }
    try (MetaStore s = open()) {
      List<String> keys = s.read(v -> v.all().stream().map(SnapshotRecord::key).toList());
      assertThat(keys).containsExactly("keep");
    }
  }

  @Test
  void transactionsSeeTheirOwnChanges() {
    try (MetaStore s = open()) {
      List<String> seen =
          s.write(
              tx -> {
                tx.create(Kind.ACTIVE, "a", "", Map.of());
                tx.commitActive("a", "b", Usage.ZERO, Map.of(), "");
                tx.create(Kind.ACTIVE, "child", "b", Map.of());
                return List.of(
                    String.valueOf(tx.get("a").isPresent()),
                    String.valueOf(tx.hasChildren(tx.require("b").id())),
                    String.valueOf(tx.all().size()));
              });
      assertThat(seen).containsExactly("false", "true", "2");
    }
  }

  @Test
  void theChecksAndErrorKindsAreContainerds() {
    try (MetaStore s = open()) {
      s.write(tx -> tx.create(Kind.ACTIVE, "active", "", Map.of()));
      s.write(tx -> tx.create(Kind.ACTIVE, "base-a", "", Map.of()));
      s.write(tx -> tx.commitActive("base-a", "base", Usage.ZERO, Map.of(), ""));
      s.write(tx -> tx.create(Kind.VIEW, "view", "base", Map.of()));

      assertThatThrownBy(() -> s.write(tx -> tx.create(Kind.ACTIVE, "x", "missing", Map.of())))
          .isInstanceOf(NotFoundException.class);
      assertThatThrownBy(() -> s.write(tx -> tx.create(Kind.ACTIVE, "x", "active", Map.of())))
          .isInstanceOf(InvalidArgumentException.class);
      assertThatThrownBy(() -> s.write(tx -> tx.create(Kind.ACTIVE, "base", "", Map.of())))
          .isInstanceOf(AlreadyExistsException.class)
          .hasMessage("snapshot base: already exists");
      assertThatThrownBy(
              () -> s.write(tx -> tx.commitActive("view", "n", Usage.ZERO, Map.of(), "")))
          .isInstanceOf(FailedPreconditionException.class);
      assertThatThrownBy(
              () -> s.write(tx -> tx.commitActive("active", "base", Usage.ZERO, Map.of(), "")))
          .isInstanceOf(AlreadyExistsException.class);
      assertThatThrownBy(() -> s.write(tx -> tx.remove("base")))
          .isInstanceOf(FailedPreconditionException.class)
          .hasMessageContaining("remove");
      assertThatThrownBy(() -> s.write(tx -> tx.remove("missing")))
          .isInstanceOf(NotFoundException.class);
    }
  }

  @Test
  void updatedIsNeverBeforeCreated() {
    try (MetaStore s = open()) {
      SnapshotRecord r = s.write(tx -> tx.create(Kind.ACTIVE, "a", "", Map.of()));
      assertThat(r.updated()).isEqualTo(r.created());
      SnapshotRecord u = s.write(tx -> tx.setLabels("a", Map.of("k", "v")));
      assertThat(u.updated()).isAfter(r.created());
      assertThat(u.created()).isEqualTo(r.created());
    }
  }

  @Test
  void writesAfterCloseFail() {
    MetaStore s = open();
    s.close();
    s.close();
    assertThatThrownBy(() -> s.write(tx -> tx.create(Kind.ACTIVE, "a", "", Map.of())))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void labelsBeyondTheMemoryBudgetAreReadFromTheDatabaseAndStillFilterAndUpdate() {
    String big = "v".repeat(3000);
    try (MetaStore s = MetaStore.open(dir.resolve("metadata.sqlite"), 10_000)) {
      for (int i = 0; i < 10; i++) {
        int n = i;
        s.write(tx -> tx.create(Kind.ACTIVE, "a" + n, "", Map.of("k", big + n)));
      }
      for (int i = 0; i < 10; i++) {
        String key = "a" + i;
        Map<String, String> labels = s.read(v -> v.require(key).labels());
        assertThat(labels).isEqualTo(Map.of("k", big + i));
      }
      long sevens =
          s.read(v -> v.all().stream().filter(r -> r.labels().get("k").endsWith("7")).count());
      assertThat(sevens).isEqualTo(1);
      s.write(tx -> tx.setLabels("a9", Map.of("k", "small")));
      Map<String, String> updated = s.read(v -> v.require("a9").labels());
      assertThat(updated).isEqualTo(Map.of("k", "small"));
    }
    // a store holding more than the budget opens, and reads what it holds
    try (MetaStore s = MetaStore.open(dir.resolve("metadata.sqlite"), 5_000)) {
      Map<String, String> a3 = s.read(v -> v.require("a3").labels());
      Map<String, String> a9 = s.read(v -> v.require("a9").labels());
      long[] ids = s.read(ReadView::ids);
      assertThat(a3).isEqualTo(Map.of("k", big + 3));
      assertThat(a9).isEqualTo(Map.of("k", "small"));
      assertThat(ids).hasSize(10);
    }
  }

  @Test
  void pendingDetachesAreDurableAndGoAwayWhenRemoved() {
    PendingDetach p =
        new PendingDetach(
            7,
            "/root/snapshots/7/block/config.v1.json",
            "/dev/loop3",
            Instant.ofEpochSecond(1_700_000_000),
            1,
            "device in use");
    try (MetaStore s = open()) {
      s.write(
          tx -> {
            tx.putPendingDetach(p);
            assertThat(tx.pendingDetach(7)).contains(p);
            return null;
          });
      assertThatThrownBy(
              () ->
                  s.write(
                      tx -> {
                        tx.putPendingDetach(p.failedAgain("x"));
                        tx.putPendingDetach(new PendingDetach(8, "c", "d", p.since(), 0, ""));
                        throw new IllegalStateException("abort");
                      }))
          .hasMessage("abort");
      Collection<PendingDetach> pending = s.read(ReadView::pendingDetaches);
      assertThat(pending).containsExactly(p);
    }
    try (MetaStore s = open()) {
      Collection<PendingDetach> reopened = s.read(ReadView::pendingDetaches);
      assertThat(reopened).containsExactly(p);
      s.write(
          tx -> {
            tx.removePendingDetach(7);
            return null;
          });
      Optional<PendingDetach> gone = s.read(v -> v.pendingDetach(7));
      assertThat(gone).isEmpty();
    }
    try (MetaStore s = open()) {
      Collection<PendingDetach> none = s.read(ReadView::pendingDetaches);
      assertThat(none).isEmpty();
    }
  }

  @Test
  void aVersionOneDatabaseIsUpgradedInPlaceKeepingItsSnapshots() throws Exception {
    Path file = dir.resolve("metadata.sqlite");
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + file);
        java.sql.Statement st = c.createStatement()) {
      st.execute(
          "CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
              + " parent_id INTEGER REFERENCES snapshots(id), kind INTEGER NOT NULL,"
              + " labels TEXT NOT NULL DEFAULT '{}', created_ns INTEGER NOT NULL,"
              + " updated_ns INTEGER NOT NULL, usage_size INTEGER NOT NULL DEFAULT 0,"
              + " usage_inodes INTEGER NOT NULL DEFAULT 0, storage_type INTEGER NOT NULL DEFAULT 1,"
              + " device TEXT NOT NULL DEFAULT '')");
      st.execute(
          "INSERT INTO snapshots(id, key, kind, labels, created_ns, updated_ns)"
              + " VALUES (4, 'old', 1, '{\"a\":\"b\"}', 1, 2)");
      st.execute("PRAGMA user_version = 1");
    }
    try (MetaStore s = open()) {
      Map<String, String> labels = s.read(v -> v.require("old").labels());
      assertThat(labels).isEqualTo(Map.of("a", "b"));
      s.write(
          tx -> {
            tx.putPendingDetach(new PendingDetach(4, "c", "d", Instant.EPOCH, 0, ""));
            return null;
          });
      assertThat(s.write(tx -> tx.create(Kind.ACTIVE, "new", "", Map.of())).id()).isEqualTo(5);
    }
  }
}
