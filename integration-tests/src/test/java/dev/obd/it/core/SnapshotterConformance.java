package dev.obd.it.core;

import static dev.obd.it.support.Layers.all;
import static dev.obd.it.support.Layers.chown;
import static dev.obd.it.support.Layers.dir;
import static dev.obd.it.support.Layers.file;
import static dev.obd.it.support.Layers.hardLink;
import static dev.obd.it.support.Layers.removeAll;
import static dev.obd.it.support.Layers.rename;
import static dev.obd.it.support.Layers.symlink;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.it.support.ContainerdMounts;
import dev.obd.it.support.FsTree;
import dev.obd.it.support.Layers;
import dev.obd.it.support.SnapshotsClient;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.proto.containerd.snapshots.v1.Info;
import dev.obd.proto.containerd.snapshots.v1.Kind;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.Requirements;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

/**
 * The snapshotter contract, over the daemon's real unix socket, with real overlay and bind mounts:
 * the behaviours containerd's generic snapshotter suite checks, plus what a proxy snapshotter adds
 * (error codes on the wire, List batching, Usage, Cleanup). Abstract: {@link
 * SnapshotterConformanceTest} runs it once per daemon configuration, as containerd runs its suite
 * once per option set of its overlayfs snapshotter.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class SnapshotterConformance {
  /** The daemon's config.json, or null to start it without {@code --config}. */
  private final String configJson;

  /** Whether that configuration leaves deleting removed snapshots' directories to Cleanup. */
  private final boolean asyncRemove;

  private Path base;
  private SnapshotterDaemon daemon;
  private SnapshotsClient client;
  private ContainerdMounts mounts;
  private Path work;
  private String prefix;

  /**
   * @param configJson the daemon's config.json, or null to start it without {@code --config}
   * @param asyncRemove whether that configuration sets {@code asyncRemove}
   */
  SnapshotterConformance(String configJson, boolean asyncRemove) {
    this.configJson = configJson;
    this.asyncRemove = asyncRemove;
  }

  @BeforeAll
  void startDaemon() throws IOException {
    Requirements.requireRoot();
    base = Files.createTempDirectory("obd-conformance-");
    String[] args = {};
    if (configJson != null) {
      Path config = Files.writeString(base.resolve("config.json"), configJson);
      args = new String[] {"--config", config.toString()};
    }
    daemon = SnapshotterDaemon.start(base.resolve("root"), base.resolve("obd.sock"), args);
    client = daemon.client();
  }

  @AfterAll
  void stopDaemon() throws IOException {
    if (daemon != null) {
      assertThat(daemon.stop()).as("exit code after SIGTERM").isZero();
    }
    if (base != null) {
      Layers.deleteTree(base);
    }
  }

  @BeforeEach
  void perTest(TestInfo info) throws IOException {
    prefix = info.getTestMethod().orElseThrow().getName();
    work = Files.createDirectories(base.resolve("work").resolve(prefix));
    mounts = new ContainerdMounts();
  }

  @AfterEach
  void unmountEverything() {
    mounts.close();
  }

  private String key(String name) {
    return prefix + "/" + name;
  }

  private Path mountPoint(String name) throws IOException {
    return Files.createDirectories(work.resolve(name));
  }

  private static void assertCode(Status.Code code, Runnable call) {
    assertThatThrownBy(call::run)
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).as(e.getMessage()).isEqualTo(code));
  }

  @Test
  void basicWorkflowCommitsViewsAndRefusesToRemoveAParentWithChildren() throws IOException {
    Layers.Change initial =
        all(
            file("/foo", "foo\n", "rwxrwxrwx"),
            dir("/a", "rwxr-xr-x"),
            dir("/a/b", "rwxr-xr-x"),
            dir("/a/b/c", "rwxr-xr-x"));
    Layers.Change diff =
        all(
            file("/bar", "bar\n", "rwxrwxrwx"),
            file("/foo", "bar\n", "rwxrwxrwx"),
            removeAll("/a/b"));
    Path preparing = mountPoint("preparing");
    mounts.mountAll(client.prepare(key("preparing"), ""), preparing);
    initial.applyTo(preparing);
    mounts.unmount(preparing);
    client.commit(key("committed"), key("preparing"));

    Info si = client.stat(key("committed"));
    assertThat(si.getParent()).isEmpty();
    assertThat(si.getKind()).isEqualTo(Kind.COMMITTED);
    assertCode(Status.Code.NOT_FOUND, () -> client.stat(key("preparing")));

    Path next = mountPoint("next");
    mounts.mountAll(client.prepare(key("next"), key("committed")), next);
    Path expected = mountPoint("expected");
    initial.applyTo(expected);
    assertThat(FsTree.of(next)).isEqualTo(FsTree.of(expected));
    diff.applyTo(next);
    diff.applyTo(expected);
    mounts.unmount(next);
    Info ni = client.stat(key("next"));
    assertThat(ni.getParent()).isEqualTo(key("committed"));
    assertThat(ni.getKind()).isEqualTo(Kind.ACTIVE);
    client.commit(key("committed-next"), key("next"));
    Info si2 = client.stat(key("committed-next"));
    assertThat(si2.getParent()).isEqualTo(key("committed"));
    assertThat(si2.getKind()).isEqualTo(Kind.COMMITTED);

    assertThat(client.list("name~=^" + prefix + "/")).containsExactlyInAnyOrder(si, si2);

    Path view = mountPoint("view");
    mounts.mountAll(client.view(key("view"), key("committed-next")), view);
    assertThat(FsTree.of(view)).isEqualTo(FsTree.of(expected));
    mounts.unmount(view);
    client.remove(key("view"));

    assertThatThrownBy(() -> client.remove(key("committed")))
        .isInstanceOfSatisfying(
            StatusRuntimeException.class,
            e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.getMessage()).contains("remove");
            });
    client.remove(key("committed-next"));
    client.remove(key("committed"));
  }

  @Test
  void statOfAnActiveSnapshotReportsItsKindAndNoParent() throws IOException {
    Path p = mountPoint("preparing");
    mounts.mountAll(client.prepare(key("preparing"), ""), p);
    Files.writeString(p.resolve("foo"), "foo\n");
    Info si = client.stat(key("preparing"));
    assertThat(si.getName()).isEqualTo(key("preparing"));
    assertThat(si.getKind()).isEqualTo(Kind.ACTIVE);
    assertThat(si.getParent()).isEmpty();
  }

  @Test
  void parentsAreTransitive() {
    client.prepare(key("a-active"), "");
    client.commit(key("a"), key("a-active"));
    client.prepare(key("b-active"), key("a"));
    client.commit(key("b"), key("b-active"));
    Info b = client.stat(key("b"));
    assertThat(b.getParent()).isEqualTo(key("a"));
    assertThat(client.stat(b.getParent()).getParent()).isEmpty();
  }

  @Test
  void aKeyThatExistsCannotBePreparedOrViewedAgain() {
    client.prepare(key("base-active"), "");
    client.commit(key("base"), key("base-active"));
    client.prepare(key("new"), key("base"));
    assertCode(Status.Code.ALREADY_EXISTS, () -> client.view(key("new"), key("base")));
    assertCode(Status.Code.ALREADY_EXISTS, () -> client.prepare(key("new"), key("base")));
    client.view(key("view"), key("base"));
    assertCode(Status.Code.ALREADY_EXISTS, () -> client.view(key("view"), key("base")));
    assertCode(Status.Code.ALREADY_EXISTS, () -> client.prepare(key("base"), ""));
  }

  @Test
  void updateReplacesOrPatchesLabelsAndNeverTouchesImmutableFields() {
    Instant t1 = Instant.now();
    client.prepare(key("c1-a"), "", Map.of("gc", "x"));
    client.commit(key("c1"), key("c1-a"), Map.of("gc", "x"));
    client.prepare(key("a1"), key("c1"), Map.of("gc", "x"));
    client.view(key("v1"), key("c1"), Map.of("gc", "x"));
    Instant t2 = Instant.now();
    for (String name : List.of("c1", "a1", "v1")) {
      Info st = client.stat(key(name));
      Instant created = instant(st.getCreatedAt());
      assertThat(created).isBetween(t1, t2);
      assertThat(st.getUpdatedAt()).isEqualTo(st.getCreatedAt());
      Kind kind = st.getKind();
      String parent = st.getParent();

      Instant u1 = Instant.now();
      Info up =
          client.update(
              st.toBuilder()
                  .setParent("doesnotexist")
                  .clearLabels()
                  .putAllLabels(Map.of("l1", "v1", "l2", "v2", "l3", "v3", "gc", "y"))
                  .build());
      Instant u2 = Instant.now();
      assertThat(up.getCreatedAt()).isEqualTo(st.getCreatedAt());
      assertThat(instant(up.getUpdatedAt())).isBetween(u1, u2);
      assertThat(up.getKind()).isEqualTo(kind);
      assertThat(up.getParent()).isEqualTo(parent);
      assertThat(up.getName()).isEqualTo(key(name));
      assertThat(up.getLabelsMap())
          .isEqualTo(Map.of("l1", "v1", "l2", "v2", "l3", "v3", "gc", "y"));

      up =
          client.update(
              up.toBuilder()
                  .clearLabels()
                  .putAllLabels(Map.of("l1", "updated", "l4", "v4"))
                  .build(),
              "labels.l1",
              "labels.l2");
      assertThat(up.getLabelsMap()).isEqualTo(Map.of("l1", "updated", "l3", "v3", "gc", "y"));
      assertThat(client.stat(key(name)).getLabelsMap()).isEqualTo(up.getLabelsMap());

      up =
          client.update(
              up.toBuilder().clearLabels().putAllLabels(Map.of("l4", "v4", "gc", "y")).build(),
              "labels");
      assertThat(up.getLabelsMap()).isEqualTo(Map.of("l4", "v4", "gc", "y"));

      Info immutable = up.toBuilder().setParent("doesnotexist").build();
      assertCode(Status.Code.INVALID_ARGUMENT, () -> client.update(immutable, "parent"));
      assertThat(client.stat(key(name)).getParent()).isEqualTo(parent);
    }
  }

  @Test
  void removedKeysAndNamesCanBeReused() {
    client.prepare(key("committed-a"), "");
    client.commit(key("committed-1"), key("committed-a"));
    client.prepare(key("reuse-1"), key("committed-1"));
    client.remove(key("reuse-1"));
    client.view(key("reuse-1"), key("committed-1"));
    client.remove(key("reuse-1"));
    client.prepare(key("reuse-1"), "");
    client.remove(key("committed-1"));
    client.commit(key("committed-1"), key("reuse-1"));
    assertThat(client.stat(key("committed-1")).getKind()).isEqualTo(Kind.COMMITTED);
  }

  @Test
  void listFiltersWorkLikeContainerds() {
    String gc = "containerd.io/gc.root";
    String tag = prefix;
    Map<String, String> root = Map.of(gc, tag);
    client.prepare(key("a-np"), "", root);
    client.prepare(key("p-tmp"), "", root);
    client.commit(key("p"), key("p-tmp"), root);
    client.prepare(key("a"), key("p"), root);
    client.view(key("v"), key("p"), root);
    client.prepare(key("p-wl-tmp"), "", root);
    client.commit(key("p-wl"), key("p-wl-tmp"), Map.of("l", "1", gc, tag));
    client.prepare(key("a-wl"), key("p-wl"), Map.of("l", "2", gc, tag));
    client.view(key("v-wl"), key("p-wl"), Map.of("l", "3", gc, tag));
    client.prepare(key("a-np-wl"), "", Map.of("l", "2", gc, tag));

    String mine = "labels.\"" + gc + "\"==" + tag;
    assertThat(names(mine))
        .containsExactlyInAnyOrder("a-np", "p", "a", "v", "p-wl", "a-wl", "v-wl", "a-np-wl");
    assertThat(names("kind==active," + mine))
        .containsExactlyInAnyOrder("a-np", "a", "a-wl", "a-np-wl");
    assertThat(names("kind==view," + mine)).containsExactlyInAnyOrder("v", "v-wl");
    assertThat(names("kind==committed," + mine)).containsExactlyInAnyOrder("p", "p-wl");
    assertThat(names("name==\"" + key("p") + "\"", "name==\"" + key("a-np-wl") + "\""))
        .containsExactlyInAnyOrder("p", "a-np-wl");
    assertThat(names("name==\"" + key("a-wl") + "\",labels.l")).containsExactly("a-wl");
    assertThat(names("parent==\"" + key("p") + "\"")).containsExactlyInAnyOrder("a", "v");
    assertThat(names("parent!=\"\"," + mine)).containsExactlyInAnyOrder("a", "v", "a-wl", "v-wl");
    assertThat(names("labels.l," + mine))
        .containsExactlyInAnyOrder("p-wl", "a-wl", "v-wl", "a-np-wl");
    assertThat(names("labels.l==2," + mine)).containsExactlyInAnyOrder("a-wl", "a-np-wl");
    assertThat(names("labels.l~=^[12]$," + mine))
        .containsExactlyInAnyOrder("p-wl", "a-wl", "a-np-wl");
    // containerd's own pull path: the label value unquoted, the parent quoted
    assertThat(names("labels.\"" + gc + "\"==" + tag + ",parent==\"" + key("p-wl") + "\""))
        .containsExactlyInAnyOrder("a-wl", "v-wl");
  }

  private List<String> names(String... filters) {
    return client.list(filters).stream()
        .map(Info::getName)
        .map(n -> n.substring(prefix.length() + 1))
        .toList();
  }

  @Test
  void aFileRewrittenInEachLayerShowsTheTopmostContent() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(
            file("/foo", "foo\n", "rw-r--r--"),
            dir("/sub", "rwxr-xr-x"),
            file("/sub/bar", "bar\n", "rw-r--r--")),
        all(file("/foo", "FOO, second\n", "rw-r--r--")),
        all(removeAll("/foo"), file("/foo", "third\n", "rwx------")),
        all(file("/sub/bar", "changed mode\n", "r--------")));
  }

  @Test
  void aDirectoryRemovedInAnUpperLayerIsGone() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(
            dir("/lib", "rwxr-xr-x"),
            file("/lib/hidden", "x", "rw-r--r--"),
            dir("/lib/nested", "rwxr-xr-x"),
            file("/lib/nested/deep", "y", "rw-r--r--")),
        all(removeAll("/lib")),
        all(dir("/lib", "rwx------"), file("/lib/new", "recreated\n", "rw-r--r--")));
  }

  @Test
  void aNewSnapshotsRootInheritsTheOwnerOfItsParentsRoot() throws IOException {
    Path base = mountPoint("base");
    mounts.mountAll(client.prepare(key("base"), ""), base);
    chown("/", 1234, 5678).applyTo(base);
    all(dir("/owned", "rwxr-x---"), chown("/owned", 1000, 1000)).applyTo(base);
    mounts.unmount(base);
    client.commit(key("base-c"), key("base"));
    Path child = mountPoint("child");
    mounts.mountAll(client.prepare(key("child"), key("base-c")), child);
    assertThat(Files.getAttribute(child, "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(1234);
    assertThat(Files.getAttribute(child, "unix:gid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(5678);
    assertThat(Files.getAttribute(child.resolve("owned"), "unix:uid")).isEqualTo(1000);
  }

  @Test
  void directoryPermissionsSurviveCommit() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(
            dir("/d1", "rwx------"),
            dir("/d2", "rwxr-x---"),
            dir("/d3", "rwx--x--x"),
            file("/d1/f", "private", "rw-------"),
            chown("/d2", 1001, 1002)),
        all(file("/d2/f", "shared", "rw-r-----"), dir("/d3", "rwxrwxrwx")));
  }

  @Test
  void removingAnIntermediateSnapshotFailsWithFailedPrecondition() {
    client.prepare(key("base"), "");
    client.commit(key("base-c"), key("base"));
    client.prepare(key("inter"), key("base-c"));
    client.commit(key("inter-c"), key("inter"));
    client.prepare(key("top"), key("inter-c"));
    assertCode(Status.Code.FAILED_PRECONDITION, () -> client.remove(key("inter-c")));
    client.remove(key("top"));
    client.remove(key("inter-c"));
    client.remove(key("base-c"));
    assertCode(Status.Code.NOT_FOUND, () -> client.stat(key("base-c")));
  }

  @Test
  void filesDeletedInAChildStayDeletedAbove() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(file("/foo", "foo\n", "rwxrwxrwx"), file("/foobar", "foobar\n", "rwxrwxrwx")),
        all(removeAll("/foobar")),
        all());
  }

  @Test
  void filesMovedOutOfALowerLayerAppearOnlyAtTheirNewPlace() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(
            dir("/dir1", "rwx------"),
            file("/dir1/f1", "Hello", "rw-r--r--"),
            dir("/dir2", "rwx------"),
            file("/dir2/f2", "...", "rw-r--r--")),
        all(
            dir("/dir3", "rwx------"),
            file("/dir3/f1", "Hello", "rw-r--r--"),
            removeAll("/dir1"),
            hardLink("/dir2/f2", "/dir3/f2"),
            removeAll("/dir2/f2")));
  }

  @Test
  void renamedFilesAndDirectoriesAcrossLayers() throws IOException {
    Layers.buildAndCheckChain(
        client,
        mounts,
        work,
        key("chain"),
        all(
            dir("/dir1", "rwx------"), file("/dir1/inner", "moved with its dir", "rw-r--r--"),
            dir("/somefiles", "rwx------"), file("/somefiles/f1", "was here first!", "rw-r--r--"),
            file("/somefiles/f2", "nothing interesting", "rw-r--r--"),
                symlink("f2", "/somefiles/link")),
        all(
            rename("/dir1", "/dir2"), file("/somefiles/f1-overwrite", "new content 1", "rw-r--r--"),
            rename("/somefiles/f1-overwrite", "/somefiles/f1"),
                rename("/somefiles/f2", "/somefiles/f3")),
        all(rename("/dir2", "/dir1")));
  }

  @Test
  void aViewIsMountedReadOnly() throws IOException {
    client.prepare(key("preparing"), "");
    client.commit(key("committed"), key("preparing"));
    Path view = mountPoint("view");
    mounts.mountAll(client.view(key("view"), key("committed")), view);
    assertThatThrownBy(() -> Files.writeString(view.resolve("testfile"), "content"))
        .isInstanceOf(FileSystemException.class)
        .hasMessageContaining("Read-only file system");
    mounts.unmount(view);
    client.remove(key("view"));
    client.remove(key("committed"));
  }

  @Test
  void statWorksWhileListingIsInProgress() throws Exception {
    for (int i = 0; i < 250; i++) {
      client.prepare(key("s" + i), "");
    }
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<?>> futures = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        futures.add(
            pool.submit(
                () -> {
                  for (Info i : client.list("name~=^" + prefix + "/")) {
                    assertThat(client.stat(i.getName())).isEqualTo(i);
                  }
                }));
      }
      for (Future<?> f : futures) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void theRootOfANewSnapshotIsMode0755() throws IOException {
    Path p = mountPoint("preparing");
    mounts.mountAll(client.prepare(key("preparing"), ""), p);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p)))
        .isEqualTo("rwxr-xr-x");
  }

  @Test
  void aChainOf128LayersMountsAndShowsEveryLayer() throws IOException {
    List<Layers.Change> changes = new ArrayList<>();
    changes.add(
        all(
            file("/bottom", "way at the bottom\n", "rwxrwxrwx"),
            file("/overwriteme", "FIRST!\n", "rwxrwxrwx"),
            dir("/addhere", "rwxr-xr-x"),
            dir("/onlyme", "rwxr-xr-x"),
            file("/onlyme/bottom", "bye!\n", "rwxrwxrwx")));
    for (int i = 1; i < 128; i++) {
      changes.add(
          all(
              file("/overwriteme", i + " WAS HERE!\n", "rwxrwxrwx"),
              file("/addhere/file-" + i, "same\n", "rwxr-xr-x"),
              removeAll("/onlyme"),
              dir("/onlyme", "rwxr-xr-x"),
              file("/onlyme/file-" + i, "only me!\n", "rwxrwxrwx")));
    }
    List<String> layers =
        Layers.buildAndCheckChain(
            client, mounts, work, key("c"), changes.toArray(Layers.Change[]::new));
    assertThat(layers).hasSize(128);
    List<Mount> m = client.view(key("fullview"), layers.get(127));
    String lower =
        m.get(0).getOptionsList().stream()
            .filter(o -> o.startsWith("lowerdir="))
            .findFirst()
            .orElseThrow();
    assertThat(lower.split(":")).hasSize(128);
  }

  @Test
  void usageOfAnActiveSnapshotCountsBlocksAndCountsHardLinksOnce() throws IOException {
    Path p = mountPoint("p");
    mounts.mountAll(client.prepare(key("p"), ""), p);
    assertThat(client.usage(key("p")).getInodes()).isEqualTo(1); // the root
    byte[] mib = new byte[1 << 20];
    java.util.Arrays.fill(mib, (byte) 7);
    Files.write(p.resolve("big"), mib);
    Files.createLink(p.resolve("big-link"), p.resolve("big"));
    Files.createDirectory(p.resolve("d"));
    var usage = client.usage(key("p"));
    assertThat(usage.getInodes()).isEqualTo(3); // root, big (twice linked), d
    assertThat(usage.getSize()).isBetween(1L << 20, (1L << 20) + 3 * 65536);
  }

  @Test
  void usageOfACommittedSnapshotIsTheValueMeasuredAtCommit() throws IOException {
    Path p = mountPoint("p");
    mounts.mountAll(client.prepare(key("p"), ""), p);
    Files.write(p.resolve("f"), new byte[300_000]);
    mounts.unmount(p);
    var before = client.usage(key("p"));
    client.commit(key("c"), key("p"));
    assertThat(client.usage(key("c"))).isEqualTo(before);
    assertThat(client.usage(key("c")).getInodes()).isEqualTo(2);
  }

  @Test
  void cleanupRemovesDirectoriesNoSnapshotOwns() throws IOException {
    Path snapshots = daemon.root().resolve("snapshots");
    Path stray = Files.createDirectories(snapshots.resolve("999999999/fs/leftover"));
    Path temp = Files.createDirectories(snapshots.resolve("new-crashed/fs"));
    client.prepare(key("kept"), "");
    client.cleanup();
    assertThat(stray.getParent().getParent()).doesNotExist();
    assertThat(temp.getParent()).doesNotExist();
    String kept = client.mounts(key("kept")).get(0).getSource();
    assertThat(Path.of(kept)).isDirectory();
  }

  @Test
  void aRemovedSnapshotsDirectoryIsDeletedByRemoveOrWithAsyncRemoveByCleanup() {
    client.prepare(key("p"), "");
    Path dir = Path.of(client.mounts(key("p")).get(0).getSource()).getParent();
    assertThat(dir).isDirectory();
    client.remove(key("p"));
    if (asyncRemove) {
      assertThat(dir).as("left to Cleanup").isDirectory();
      client.cleanup();
    }
    assertThat(dir).doesNotExist();
  }

  @Test
  void mountsOfACommittedSnapshotFailsWithFailedPrecondition() {
    client.prepare(key("p"), "");
    client.commit(key("c"), key("p"));
    assertCode(Status.Code.FAILED_PRECONDITION, () -> client.mounts(key("c")));
    assertCode(Status.Code.NOT_FOUND, () -> client.mounts(key("missing")));
  }

  @Test
  void mountsHaveContainerdsShapeForEveryKindAndDepth() {
    Path snapshots = daemon.root().resolve("snapshots");
    List<Mount> first = client.prepare(key("l1"), "");
    assertThat(first).hasSize(1);
    assertThat(first.get(0).getType()).isEqualTo("bind");
    assertThat(first.get(0).getOptionsList()).containsExactly("rw", "rbind");
    String l1fs = first.get(0).getSource();
    assertThat(Path.of(l1fs).getParent().getParent()).isEqualTo(snapshots);
    client.commit(key("c1"), key("l1"));

    List<Mount> rootView = client.view(key("v0"), "");
    assertThat(rootView.get(0).getOptionsList()).containsExactly("ro", "rbind");

    List<Mount> view1 = client.view(key("v1"), key("c1"));
    assertThat(view1.get(0).getType()).isEqualTo("bind");
    assertThat(view1.get(0).getSource()).isEqualTo(l1fs);
    assertThat(view1.get(0).getOptionsList()).containsExactly("ro", "rbind");

    List<Mount> second = client.prepare(key("l2"), key("c1"));
    Mount o = second.get(0);
    assertThat(o.getType()).isEqualTo("overlay");
    assertThat(o.getSource()).isEqualTo("overlay");
    String id2 =
        o.getOptionsList().stream()
            .filter(s -> s.startsWith("upperdir="))
            .findFirst()
            .orElseThrow();
    Path upper = Path.of(id2.substring("upperdir=".length()));
    assertThat(o.getOptionsList())
        .startsWith(
            "workdir=" + upper.getParent().resolve("work"),
            "upperdir=" + upper,
            "lowerdir=" + l1fs);
    if (Files.exists(Path.of("/sys/module/overlay/parameters/index"))) {
      assertThat(o.getOptionsList()).contains("index=off");
    }
    client.commit(key("c2"), key("l2"));
    List<Mount> view2 = client.view(key("v2"), key("c2"));
    assertThat(view2.get(0).getOptionsList())
        .contains("lowerdir=" + upper + ":" + l1fs)
        .noneMatch(s -> s.startsWith("upperdir=") || s.startsWith("workdir="));
    assertThat(client.mounts(key("v2"))).isEqualTo(view2);
  }

  @Test
  void listStreamsResultsInBatchesOf100() {
    for (int i = 0; i < 250; i++) {
      client.prepare(key(String.format("b%03d", i)), "", Map.of("batch", prefix));
    }
    List<ListSnapshotsResponse> batches = client.listBatches("labels.batch==" + prefix);
    assertThat(batches)
        .extracting(ListSnapshotsResponse::getInfoCount)
        .containsExactly(100, 100, 50);
  }

  @Test
  void commitCanGiveAParentToASnapshotPreparedWithout() {
    client.prepare(key("base"), "");
    client.commit(key("base-c"), key("base"));
    client.prepare(key("orphan"), "");
    client.commitWithParent(key("rebased"), key("orphan"), key("base-c"));
    assertThat(client.stat(key("rebased")).getParent()).isEqualTo(key("base-c"));
    assertCode(Status.Code.FAILED_PRECONDITION, () -> client.remove(key("base-c")));
    client.prepare(key("other"), key("base-c"));
    client.prepare(key("unrelated"), "");
    client.commit(key("unrelated-c"), key("unrelated"));
    assertCode(
        Status.Code.INVALID_ARGUMENT,
        () -> client.commitWithParent(key("x"), key("other"), key("unrelated-c")));
  }

  @Test
  void labelsWithEmptyValuesAreNotStored() {
    client.prepare(key("p"), "", Map.of("kept", "v", "dropped", ""));
    assertThat(client.stat(key("p")).getLabelsMap()).isEqualTo(Map.of("kept", "v"));
  }

  private static Instant instant(com.google.protobuf.Timestamp t) {
    return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
  }
}
