package dev.obd.it.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.Requirements;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Bursts of operations from several clients, the daemon killed with SIGKILL at a random instant,
 * restarted, cleaned up and checked, over many rounds: every acknowledged change is still there,
 * nothing acknowledged as removed came back, no record is half-written, no directory is orphaned,
 * and the database passes SQLite's integrity check. Operations in flight at the kill may have
 * happened or not, but never partly.
 */
class CrashConsistencyTest {
  private static final int ROUNDS = 12;
  private static final int WORKERS = 3;

  /** What the test knows of a key: a definite state, or "in flight when killed". */
  private record Expect(State state, Kind kind, String parent, Map<String, String> labels) {
    enum State {
      PRESENT,
      ABSENT,
      UNCERTAIN
    }

    static final Expect ABSENT = new Expect(State.ABSENT, null, null, Map.of());
    static final Expect UNCERTAIN = new Expect(State.UNCERTAIN, null, null, Map.of());

    static Expect present(Kind kind, String parent, Map<String, String> labels) {
      return new Expect(State.PRESENT, kind, parent, labels);
    }
  }

  private final Map<String, Expect> model = new HashMap<>();
  private final AtomicInteger keys = new AtomicInteger();
  private final Set<String> busy = new HashSet<>();
  private final ThreadLocal<List<String>> claimed = ThreadLocal.withInitial(ArrayList::new);

  @Test
  void killNineAtRandomInstantsLosesNothingAcknowledgedAndLeavesNoOrphans() throws Exception {
    Requirements.requireRoot();
    long seed = Long.getLong("obd.test.seed", System.nanoTime());
    Random rnd = new Random(seed);
    Path base = Files.createTempDirectory("obd-crash-");
    Path root = base.resolve("root");
    Path socket = base.resolve("obd.sock");
    try {
      for (int round = 0; round < ROUNDS; round++) {
        try (SnapshotterDaemon daemon = SnapshotterDaemon.start(root, socket)) {
          verify(daemon, "round " + round + " (seed " + seed + ")");
          burstThenKill(daemon, rnd, 150 + rnd.nextInt(900));
        }
      }
      try (SnapshotterDaemon daemon = SnapshotterDaemon.start(root, socket)) {
        verify(daemon, "final (seed " + seed + ")");
        assertThat(daemon.stop()).isZero();
      }
      assertThat(integrityCheck(root.resolve("metadata.sqlite"))).isEqualTo("ok");
      assertThat(model.values()).as("the run exercised the daemon").hasSizeGreaterThan(30);
    } finally {
      Layers.deleteTree(base);
    }
  }

  private void burstThenKill(SnapshotterDaemon daemon, Random rnd, long millis) throws Exception {
    SnapshotsClient client = SnapshotsClient.connect(daemon.socket());
    AtomicBoolean running = new AtomicBoolean(true);
    ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
    List<Future<?>> workers = new ArrayList<>();
    for (int w = 0; w < WORKERS; w++) {
      long workerSeed = rnd.nextLong();
      workers.add(pool.submit(() -> work(client, new Random(workerSeed), running)));
    }
    Thread.sleep(millis);
    daemon.kill9();
    running.set(false);
    for (Future<?> f : workers) {
      f.get(60, TimeUnit.SECONDS);
    }
    pool.shutdownNow();
    client.close();
  }

  private void work(SnapshotsClient client, Random rnd, AtomicBoolean running) {
    while (running.get()) {
      try {
        switch (rnd.nextInt(6)) {
          case 0, 1, 2 -> prepareFillCommit(client, rnd);
          case 3 -> view(client, rnd);
          case 4 -> remove(client, rnd);
          default -> relabel(client, rnd);
        }
      } catch (StatusRuntimeException e) {
        if (!running.get() || isConnectionLoss(e)) {
          return; // the daemon is gone: whatever was in flight stays uncertain
        }
        throw e;
      } finally {
        releaseClaims();
      }
    }
  }

  private static boolean isConnectionLoss(StatusRuntimeException e) {
    Status.Code c = e.getStatus().getCode();
    return c == Status.Code.UNAVAILABLE
        || c == Status.Code.CANCELLED
        || c == Status.Code.DEADLINE_EXCEEDED
        || c == Status.Code.UNKNOWN && String.valueOf(e.getMessage()).contains("closed");
  }

  private void prepareFillCommit(SnapshotsClient client, Random rnd) {
    String parent = pick(rnd, Kind.COMMITTED, true);
    String active = "a" + keys.incrementAndGet();
    claim(active); // until it is committed: no other worker removes it in between
    Map<String, String> labels = Map.of("round-label", Integer.toString(rnd.nextInt(1000)));
    set(active, Expect.UNCERTAIN);
    List<Mount> mounts;
    try {
      mounts = client.prepare(active, parent, labels);
    } catch (StatusRuntimeException e) {
      settle(active, e);
      throw e;
    }
    set(active, Expect.present(Kind.ACTIVE, parent, labels));
    writeMarker(mounts, active);
    if (rnd.nextBoolean()) {
      return;
    }
    String name = "c" + keys.incrementAndGet();
    set(active, Expect.UNCERTAIN);
    set(name, Expect.UNCERTAIN);
    Map<String, String> committedLabels = Map.of("committed", name);
    try {
      client.commit(name, active, committedLabels);
    } catch (StatusRuntimeException e) {
      if (!isConnectionLoss(e)) {
        set(active, Expect.present(Kind.ACTIVE, parent, labels));
        set(name, Expect.ABSENT);
      }
      throw e;
    }
    set(active, Expect.ABSENT);
    set(name, Expect.present(Kind.COMMITTED, parent, committedLabels));
  }

  /** Writes a file into the snapshot's upper directory, as an unpacker would. */
  private static void writeMarker(List<Mount> mounts, String key) {
    Mount m = mounts.get(0);
    String fs =
        m.getType().equals("bind")
            ? m.getSource()
            : m.getOptionsList().stream()
                .filter(o -> o.startsWith("upperdir="))
                .findFirst()
                .orElseThrow()
                .substring("upperdir=".length());
    try {
      Files.writeString(Path.of(fs, "marker"), key);
    } catch (IOException e) {
      // the kill may already have happened and Cleanup removed nothing yet: harmless
    }
  }

  private void view(SnapshotsClient client, Random rnd) {
    String parent = pick(rnd, Kind.COMMITTED, true);
    String key = "v" + keys.incrementAndGet();
    set(key, Expect.UNCERTAIN);
    try {
      client.view(key, parent);
    } catch (StatusRuntimeException e) {
      settle(key, e);
      throw e;
    }
    set(key, Expect.present(Kind.VIEW, parent, Map.of()));
  }

  private void remove(SnapshotsClient client, Random rnd) {
    String key = pick(rnd, null, false);
    if (key == null) {
      return;
    }
    Expect before = get(key);
    set(key, Expect.UNCERTAIN);
    try {
      client.remove(key);
    } catch (StatusRuntimeException e) {
      if (!isConnectionLoss(e)) {
        set(key, before); // e.g. it has children: nothing changed
        return;
      }
      throw e;
    }
    set(key, Expect.ABSENT);
  }

  private void relabel(SnapshotsClient client, Random rnd) {
    String key = pick(rnd, null, false);
    if (key == null) {
      return;
    }
    Expect before = get(key);
    Map<String, String> labels = Map.of("relabelled", Integer.toString(rnd.nextInt(1000)));
    set(key, Expect.UNCERTAIN);
    try {
      client.update(Info.newBuilder().setName(key).putAllLabels(labels).build());
    } catch (StatusRuntimeException e) {
      if (!isConnectionLoss(e)) {
        set(key, before);
        return;
      }
      throw e;
    }
    set(key, Expect.present(before.kind(), before.parent(), labels));
  }

  /** A key known to be present (of {@code kind} if given), or "" / null when there is none. */
  private synchronized String pick(Random rnd, Kind kind, boolean allowNone) {
    List<String> candidates =
        model.entrySet().stream()
            .filter(e -> e.getValue().state() == Expect.State.PRESENT)
            .filter(e -> kind == null || e.getValue().kind() == kind)
            .map(Map.Entry::getKey)
            .filter(k -> !busy.contains(k))
            .sorted()
            .toList();
    if (candidates.isEmpty() || (allowNone && rnd.nextInt(3) == 0)) {
      return allowNone ? "" : null;
    }
    String key = candidates.get(rnd.nextInt(candidates.size()));
    claim(key);
    return key;
  }

  /**
   * Reserves {@code key} for this worker's operation: no other worker picks it (as a parent, to
   * remove or to relabel) until the operation ends, so that every answer is one the model can
   * predict. Without it, one worker removing a parent another is preparing on made the Prepare
   * answer NOT_FOUND, which the model could not tell from lost data.
   */
  private synchronized void claim(String key) {
    busy.add(key);
    claimed.get().add(key);
  }

  private synchronized void releaseClaims() {
    claimed.get().forEach(busy::remove);
    claimed.get().clear();
  }

  private void settle(String key, StatusRuntimeException e) {
    if (!isConnectionLoss(e)) {
      set(key, Expect.ABSENT);
    }
  }

  private synchronized void set(String key, Expect e) {
    model.put(key, e);
  }

  private synchronized Expect get(String key) {
    return model.get(key);
  }

  private synchronized void verify(SnapshotterDaemon daemon, String when) throws IOException {
    SnapshotsClient client = daemon.client();
    client.cleanup();
    Map<String, Info> listed =
        client.list().stream().collect(Collectors.toMap(Info::getName, i -> i));
    for (Map.Entry<String, Expect> e : model.entrySet()) {
      String key = e.getKey();
      Expect x = e.getValue();
      switch (x.state()) {
        case PRESENT -> {
          assertThat(listed).as(when + ": acknowledged " + key).containsKey(key);
          Info i = listed.get(key);
          assertThat(i.getKind()).as(when + ": kind of " + key).isEqualTo(x.kind());
          assertThat(i.getParent()).as(when + ": parent of " + key).isEqualTo(x.parent());
          assertThat(i.getLabelsMap()).as(when + ": labels of " + key).isEqualTo(x.labels());
        }
        case ABSENT -> assertThat(listed).as(when + ": removed " + key).doesNotContainKey(key);
        case UNCERTAIN -> {
          Info i = listed.get(key);
          model.put(
              key,
              i == null
                  ? Expect.ABSENT
                  : Expect.present(i.getKind(), i.getParent(), i.getLabelsMap()));
        }
      }
    }
    assertThat(listed.keySet()).as(when + ": nothing unknown appeared").isSubsetOf(model.keySet());
    for (Info i : listed.values()) {
      if (!i.getParent().isEmpty()) {
        assertThat(listed).as(when + ": parent of " + i.getName()).containsKey(i.getParent());
        assertThat(listed.get(i.getParent()).getKind()).isEqualTo(Kind.COMMITTED);
      }
      if (i.getKind() != Kind.COMMITTED) {
        Mount m = client.mounts(i.getName()).get(0);
        assertThat(m.getType()).isIn("bind", "overlay");
      }
    }
    for (Info i : listed.values()) {
      if (i.getKind() == Kind.COMMITTED) {
        String probe = "probe-" + keys.incrementAndGet();
        Mount m = client.view(probe, i.getName()).get(0);
        String fs =
            m.getType().equals("bind")
                ? m.getSource()
                : m.getOptionsList().stream()
                    .filter(o -> o.startsWith("lowerdir="))
                    .findFirst()
                    .orElseThrow()
                    .substring("lowerdir=".length())
                    .split(":")[0];
        assertThat(Path.of(fs, "marker")).as(when + ": data of " + i.getName()).exists();
        client.remove(probe);
      }
    }
    Set<String> dirs;
    try (Stream<Path> s = Files.list(daemon.root().resolve("snapshots"))) {
      dirs = s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
    }
    assertThat(dirs).as(when + ": one directory per snapshot, no leftovers").hasSize(listed.size());
    assertThat(dirs).allMatch(d -> d.matches("[0-9]+"));
  }

  private static String integrityCheck(Path db) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("PRAGMA integrity_check")) {
      return rs.getString(1);
    }
  }

  @Test
  void aRootCannotBeServedByTwoDaemons() throws IOException {
    Requirements.requireRoot();
    Path base = Files.createTempDirectory("obd-twice-");
    try (SnapshotterDaemon first =
            SnapshotterDaemon.start(base.resolve("root"), base.resolve("a.sock"));
        SnapshotterDaemon second =
            SnapshotterDaemon.launch(base.resolve("root"), base.resolve("b.sock"), Map.of())) {
      assertThat(second.process().awaitExit(SnapshotterDaemon.READY_DEADLINE)).isEqualTo(1);
      assertThat(second.logTail(20))
          .contains("in use by another process")
          .contains("pid " + first.process().pid());
      assertThatThrownBy(() -> first.client().stat("x"))
          .isInstanceOf(StatusRuntimeException.class)
          .hasMessageContaining("NOT_FOUND");
    } finally {
      Layers.deleteTree(base);
    }
  }
}
