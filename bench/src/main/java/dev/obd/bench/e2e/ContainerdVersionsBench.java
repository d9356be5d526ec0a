package dev.obd.bench.e2e;

import static dev.obd.bench.e2e.E2eSteps.blobBytesServed;
import static dev.obd.bench.e2e.E2eSteps.median;
import static dev.obd.bench.e2e.E2eSteps.secondsToFirstOutput;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.ContainerdInstallation;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * CRI pull + first run of an OverlayBD image on every containerd of the test matrix (bookworm's
 * 1.6, 1.7 and 2.x unpacked by test-support/fetch-debian-packages), each with the configuration the
 * tests use for it: CRI pulls locally on 1.x and through the transfer service on 2.x. The baseline,
 * on the same containerd in the same round: the same image unconverted, pulled with {@code ctr
 * images pull} into containerd's built-in overlayfs snapshotter. The image: busybox plus FILES
 * layers of one random file each; the entrypoint reads 1 MiB of the first. Clock from the start of
 * the pull to the entrypoint's first output line.
 *
 * <p>Every version has its own obd-snapshotter, obd-backstore and containerd, all running at once;
 * the rounds alternate between the versions. Each round starts cold for the image: nothing of it in
 * containerd or the snapshotter, the backstore restarted with an empty cache. The daemons are warm:
 * a small image of the same kind is pulled and run first on each path, untimed.
 *
 * <p>Usage: {@code bench/run dev.obd.bench.e2e.ContainerdVersionsBench DIST_DIR [ROUNDS]
 * [SIZE_MIB]}, as root, with the distribution built ({@code
 * distribution/target/obd-snapshotter-<v>}).
 */
public final class ContainerdVersionsBench {
  private static final int FILES = 4;
  private static final String SCRIPT = "head -c 1048576 /data/file-1 | md5sum";

  /** One containerd with its own snapshotter and backstore. */
  private static final class Stack {
    final ContainerdInstallation installation;
    final Path dir;
    ChildProcess backstore;
    ChildProcess daemon;
    Containerd containerd;
    final List<double[]> lazy = new ArrayList<>();
    final List<double[]> baseline = new ArrayList<>();

    Stack(ContainerdInstallation installation, Path dir) {
      this.installation = installation;
      this.dir = dir;
    }

    Path backstoreDir() {
      return dir.resolve("backstore");
    }
  }

  private ContainerdVersionsBench() {}

  public static void main(String[] args) throws Exception {
    Path dist = Path.of(args[0]).toAbsolutePath();
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    int sizeMib = args.length > 2 ? Integer.parseInt(args[2]) : 128;
    System.setProperty("obd.distDir", dist.toString());
    Path dir = Files.createTempDirectory("obd-ctrd-versions-");
    List<Stack> stacks = new ArrayList<>();
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"))) {
      OciImage image = image((sizeMib << 20) / FILES);
      String plainRef =
          image.push(Files.createDirectories(dir.resolve("plain")), registry.host(), "v/oci", "v1");
      String obdRef = registry.host() + "/v/obd:v1";
      ObdImages.push(
          ObdImages.convert(image, Files.createDirectories(dir.resolve("obd")), "v1"),
          "v1",
          obdRef);
      OciImage warm = TestImages.small("unused", "warm-up");
      String warmPlain =
          warm.push(Files.createDirectories(dir.resolve("warm")), registry.host(), "w/oci", "v1");
      String warmObd = registry.host() + "/w/obd:v1";
      ObdImages.push(
          ObdImages.convert(warm, Files.createDirectories(dir.resolve("warm-obd")), "v1"),
          "v1",
          warmObd);

      for (ContainerdInstallation c : ContainerdInstallation.matrix()) {
        Stack s = new Stack(c, Files.createDirectories(dir.resolve("v" + c.version())));
        stacks.add(s);
        s.backstore = E2eSteps.startBackstore(dist, s.backstoreDir(), 1);
        s.daemon = E2eSteps.startSnapshotter(dist, s.dir, s.backstoreDir(), registry.host());
        Path ctrDir = s.dir.resolve("containerd");
        s.containerd =
            Containerd.start(
                c,
                ctrDir,
                Containerd.config(c, ctrDir, s.dir.resolve("obd.sock"), criPull(c)),
                registry.host());
        baselineRound(s, registry, warmPlain, "cat /data/id", "warm");
        lazyRound(s, registry, warmObd, "cat /data/id");
      }
      for (int r = 0; r < rounds; r++) {
        for (Stack s : stacks) {
          s.baseline.add(baselineRound(s, registry, plainRef, SCRIPT, "cold-" + r));
          s.backstore.terminate(Duration.ofSeconds(30));
          E2eSteps.deleteTree(s.backstoreDir().resolve("cache"));
          s.backstore = E2eSteps.startBackstore(dist, s.backstoreDir(), 1);
          s.lazy.add(lazyRound(s, registry, obdRef, SCRIPT));
        }
      }
      System.out.printf(
          Locale.ROOT,
          "image: busybox + %d layers of one %d MiB random file each; entrypoint reads 1 MiB;"
              + " %d rounds, medians%n%n",
          FILES,
          sizeMib / FILES,
          rounds);
      System.out.println(
          "| containerd | CRI pulls | OverlayBD image: CRI pull | pull start → first output |"
              + " layer bytes from the registry | ordinary image: ctr pull into overlayfs, pull"
              + " start → first output | ratio (> 1: OverlayBD faster) |");
      System.out.println("|---|---|---|---|---|---|---|");
      for (Stack s : stacks) {
        double[] l = median(s.lazy);
        double[] b = median(s.baseline);
        System.out.printf(
            Locale.ROOT,
            "| %s | %s | %.2f s | %.2f s | %.1f MiB | %.2f s | %.2f |%n",
            s.installation.version(),
            criPull(s.installation) == Containerd.CriPull.LOCAL
                ? "locally"
                : "through the transfer service",
            l[2],
            l[0],
            l[1] / (1 << 20),
            b[0],
            b[0] / l[0]);
      }
    } finally {
      for (Stack s : stacks) {
        if (s.containerd != null) {
          s.containerd.close();
        }
        if (s.daemon != null) {
          s.daemon.terminate(Duration.ofSeconds(30));
        }
        Containerd.unmountBelow(s.dir.resolve("obd-root"));
        if (s.backstore != null) {
          removeDevices(s);
          s.backstore.terminate(Duration.ofSeconds(60));
        }
      }
      Containerd.unmountBelow(dir);
      E2eSteps.deleteTree(dir);
    }
  }

  /** CRI as the tests configure it: locally on 1.x, through the transfer service on 2.x. */
  private static Containerd.CriPull criPull(ContainerdInstallation c) {
    return c.configVersion() == 3 ? Containerd.CriPull.TRANSFER_SERVICE : Containerd.CriPull.LOCAL;
  }

  /** {seconds to first output, layer bytes served, seconds of the pull}; then cleans up. */
  private static double[] baselineRound(
      Stack s, LocalRegistry registry, String ref, String script, String ns) throws Exception {
    long logAt = Files.size(registry.log());
    long t0 = System.nanoTime();
    s.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "overlayfs", ref);
    double pulled = (System.nanoTime() - t0) / 1e9;
    double seconds = secondsToFirstOutput(s.containerd, ns, "overlayfs", ref, script, t0);
    long bytes = blobBytesServed(registry.log(), logAt);
    s.containerd.ctr(ns, "images", "rm", "--sync", ref);
    return new double[] {seconds, bytes, pulled};
  }

  /**
   * {seconds to first output, layer bytes served, seconds of the pull}; then removes the image and
   * waits until its device is detached.
   */
  private static double[] lazyRound(Stack s, LocalRegistry registry, String ref, String script)
      throws Exception {
    try (CriClient cri = new CriClient(s.containerd.socket())) {
      cri.list(); // connected before the clock starts, as kubelet is
      long logAt = Files.size(registry.log());
      long t0 = System.nanoTime();
      cri.pull(ref);
      double pulled = (System.nanoTime() - t0) / 1e9;
      double seconds =
          secondsToFirstOutput(s.containerd, "k8s.io", Containerd.SNAPSHOTTER, ref, script, t0);
      long bytes = blobBytesServed(registry.log(), logAt);
      cri.remove(ref);
      awaitNoDevices(s);
      return new double[] {seconds, bytes, pulled};
    }
  }

  private static void awaitNoDevices(Stack s) throws Exception {
    BackstoreClient client = new BackstoreClient(s.backstoreDir().resolve("backstore.sock"));
    long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!client.list(Duration.ofSeconds(10)).isEmpty()) {
      if (System.nanoTime() > end) {
        throw new IllegalStateException(
            s.installation + ": the image's device was not detached within 60 s of its removal");
      }
      Thread.sleep(50);
    }
  }

  private static void removeDevices(Stack s) {
    BackstoreClient client = new BackstoreClient(s.backstoreDir().resolve("backstore.sock"));
    try {
      for (var d : client.list(Duration.ofSeconds(10))) {
        client.remove(d.id(), Duration.ofSeconds(60));
      }
    } catch (BackstoreApiException e) {
      System.err.println(s.installation + ": removing devices at the end: " + e.getMessage());
    }
  }

  private static OciImage image(int perFile) {
    Random rnd = new Random(17);
    List<TarLayer> layers = new ArrayList<>();
    layers.add(TestImages.busybox().dir("data", 0755));
    for (int i = 1; i <= FILES; i++) {
      byte[] blob = new byte[perFile];
      rnd.nextBytes(blob);
      layers.add(new TarLayer().file("data/file-" + i, 0644, blob));
    }
    return new OciImage("unused", layers, List.of("/bin/sh", "-c", SCRIPT));
  }
}
