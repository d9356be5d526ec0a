package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.ExpectedTree;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The lifetime of OverlayBD devices as a node sees it: no device for the layers containerd unpacks;
 * a device whose filesystem another mount namespace still holds when its image goes is detached
 * once the holder lets go, also across a restart of the snapshotter; and after a reboot, the
 * devices that containers use come back as soon as obd-backstore answers, even when it starts after
 * the snapshotter.
 *
 * <p>All of it real: containerd 1.6, docker-registry, obd-backstore serving over nbdfuse and loop
 * devices, mount namespaces made with unshare(1).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OverlayBdDeviceLifetimeEndToEndTest {
  private static final Duration RETRY_WINDOW = Duration.ofSeconds(45);
  private E2eEnvironment env;
  private OciImage tree;
  private String treeRef;
  private ChildProcess holder;

  @BeforeAll
  void start() throws Exception {
    Requirements.requireCommand("nbdfuse");
    Requirements.requireCommand("unshare");
    env = E2eEnvironment.startWithBackstore("obd-devlife", "");
    tree = TestImages.tree("unused");
    Path converted = ObdImages.convert(tree, env.workDir("convert-tree"), "v1");
    treeRef = env.registry.host() + "/obd/devlife:v1";
    ObdImages.push(converted, "v1", treeRef);
  }

  @AfterEach
  void releaseHolder() {
    if (holder != null) {
      holder.close();
      holder = null;
    }
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  private List<DeviceInfo> devices() throws Exception {
    return new BackstoreClient(env.backstoreSocket()).list(Duration.ofSeconds(10));
  }

  @Test
  void aPlainPullOfAMultiLayerOverlayBdImageAttachesNoDeviceUntilAContainerRuns() throws Exception {
    String ns = "plain";
    env.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, treeRef);
    assertThat(devices()).as("devices attached by unpacking four OverlayBD layers").isEmpty();
    String out =
        env.containerd.runContainer(
            ns,
            SNAPSHOTTER,
            treeRef,
            "plain-tree",
            "/bin/sh",
            "-c",
            ExpectedTree.listScript("data"));
    assertThat(ExpectedTree.parse(out))
        .containsExactlyElementsOf(ExpectedTree.of(tree.layers()).listing("data"));
    assertThat(devices()).as("the image's one shared device").hasSize(1);
    removeImage(ns);
    awaitNoDevices("after the image was removed");
  }

  @Test
  void aDeviceHeldInAnotherMountNamespaceWhenItsImageGoesIsDetachedOnceTheHolderLetsGo()
      throws Exception {
    String ns = "pinned";
    Path mountpoint = pullAndPin(ns, "pinned-1");
    removeImage(ns);
    assertThat(env.daemon().client().list("name~=^" + ns + "/"))
        .as("the image's snapshots")
        .isEmpty();
    assertThat(devices()).as("the device, still held in another mount namespace").hasSize(1);
    assertThat(Files.exists(mountpoint)).as("the snapshot's directory").isFalse();

    holder.close();
    holder = null;
    awaitNoDevices("after the holder of its filesystem exited");
  }

  @Test
  void aPendingDetachIsRetriedAfterARestartOfTheSnapshotter() throws Exception {
    String ns = "restart";
    pullAndPin(ns, "pinned-2");
    removeImage(ns);
    assertThat(devices()).as("the device, still held in another mount namespace").hasSize(1);

    env.restartDaemon();
    holder.close();
    holder = null;
    awaitNoDevices("after a restart, once the holder exited");
  }

  @Test
  void afterARebootDevicesInUseComeBackOnceTheBackstoreAnswersEvenWhenItStartsLater()
      throws Exception {
    String ns = "reboot";
    env.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, treeRef);
    env.containerd.ctr(ns, "containers", "create", "--snapshotter", SNAPSHOTTER, treeRef, "kept");
    assertThat(devices()).as("the device of the container's image").hasSize(1);

    // a reboot: the snapshotter dies, mounts and devices are gone, obd-backstore comes up last
    env.daemon().kill9();
    Containerd.unmountBelow(env.daemon().root());
    BackstoreClient backstore = new BackstoreClient(env.backstoreSocket());
    for (DeviceInfo d : backstore.list(Duration.ofSeconds(10))) {
      backstore.remove(d.id(), Duration.ofSeconds(60));
    }
    env.stopBackstore();
    env.killAndRestartDaemon();
    Thread.sleep(1000);
    assertThat(env.daemon().logTail(200)).contains("cannot reconcile OverlayBD devices yet");

    env.startBackstore();
    await(
        "the container's image device attached and mounted again without any call",
        () -> {
          try {
            return devices().size() == 1 && mountedBelow(env.daemon().root()) == 1;
          } catch (Exception e) {
            return false;
          }
        });
    env.containerd.ctr(ns, "containers", "rm", "kept");
    removeImage(ns);
    awaitNoDevices("after the image was removed");
  }

  /**
   * Pulls the image into {@code ns}, runs a container so that its device is mounted, and starts a
   * process in a new mount namespace whose working directory is in that filesystem: as any process
   * that unshared its mounts while a container ran and keeps using them. Returns the image device's
   * mount point.
   */
  private Path pullAndPin(String ns, String container) throws Exception {
    env.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, treeRef);
    env.containerd.runContainer(ns, SNAPSHOTTER, treeRef, container, "/bin/true");
    assertThat(devices()).hasSize(1);
    Path mountpoint = deviceMountpoint();
    holder =
        ChildProcess.start(
            "mount-namespace holder",
            List.of(
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "cd '" + mountpoint + "' && exec sleep 600"),
            env.workDir("holder-" + container).resolve("holder.log"),
            Map.of());
    Path cwd = Path.of("/proc/" + holder.pid() + "/cwd");
    await(
        "the holder working in the image's filesystem",
        () -> {
          try {
            return Files.exists(cwd.resolve("data"));
          } catch (RuntimeException e) {
            return false;
          }
        });
    return mountpoint;
  }

  /** The one OverlayBD device mount point below the snapshotter's root. */
  private Path deviceMountpoint() throws Exception {
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String target = line.split(" ")[4];
      if (target.startsWith(env.daemon().root().toString())
          && target.endsWith("/block/mountpoint")) {
        return Path.of(target);
      }
    }
    throw new AssertionError("no device is mounted below " + env.daemon().root());
  }

  private static long mountedBelow(Path root) throws Exception {
    return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
        .map(l -> l.split(" ")[4])
        .filter(t -> t.startsWith(root.toString()) && t.endsWith("/block/mountpoint"))
        .count();
  }

  /** Removes every image of {@code ns}; containerd's collector then removes their snapshots. */
  private void removeImage(String ns) {
    env.containerd.ctr(ns, "images", "rm", "--sync", treeRef);
  }

  private void awaitNoDevices(String when) throws Exception {
    await(
        "no device left " + when,
        () -> {
          try {
            return devices().isEmpty();
          } catch (Exception e) {
            return false;
          }
        });
  }

  private void await(String what, BooleanSupplier condition) throws InterruptedException {
    long end = System.nanoTime() + RETRY_WINDOW.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError(
            what
                + ": not within "
                + RETRY_WINDOW.toSeconds()
                + " s; snapshotter log:\n"
                + env.daemon().logTail(40));
      }
      Thread.sleep(200);
    }
  }
}
