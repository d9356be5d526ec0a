package dev.obd.bench.e2e;

import static dev.obd.bench.e2e.E2eSteps.blobBytesServed;
import static dev.obd.bench.e2e.E2eSteps.median;
import static dev.obd.bench.e2e.E2eSteps.secondsToFirstOutput;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Cold start of a large image: from the start of the pull to the entrypoint's first output line,
 * and the bytes the registry sent for layer blobs meanwhile. The same image twice in one local
 * registry: as an ordinary gzip image pulled and unpacked by {@code ctr images pull} into
 * containerd's built-in overlayfs snapshotter (the baseline), and converted with {@code obdctl
 * convert}, pulled lazily through the CRI (kubelet's path) into obd-snapshotter with devices served
 * by obd-backstore. The entrypoint reads 1% of the image's bytes. Each round starts cold for the
 * image: nothing of it in containerd's content store or in either snapshotter, the backstore
 * restarted with an empty cache. The daemons are warm, as on a node that has run containers before:
 * each round first pulls and runs a small image of the same kind (not timed). The page cache is not
 * dropped: the registry's files stay cached for both paths (a fast registry).
 *
 * <p>Usage: {@code bench/run dev.obd.bench.e2e.ColdStartBench DIST_DIR [ROUNDS] [SIZE_MIB]}, as
 * root, with the distribution built ({@code distribution/target/obd-snapshotter-<v>}); {@code
 * -Dobd.bench.logs=DIR} keeps the logs of registry, snapshotter and backstore.
 */
public final class ColdStartBench {
  private static final int FILES = 8;

  private ColdStartBench() {}

  public static void main(String[] args) throws Exception {
    Path dist = Path.of(args[0]).toAbsolutePath();
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    int sizeMib = args.length > 2 ? Integer.parseInt(args[2]) : 560;
    System.setProperty("obd.distDir", dist.toString());
    Path dir = Files.createTempDirectory("obd-coldstart-");
    ChildProcess daemon = null;
    ChildProcess backstore = null;
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"))) {
      int perFile = (sizeMib << 20) / FILES;
      int readBytes = (int) ((long) sizeMib * (1 << 20) / 100);
      OciImage image = bigImage(perFile, readBytes);
      String plainRef =
          image.push(
              Files.createDirectories(dir.resolve("plain")), registry.host(), "cold/oci", "v1");
      long t = System.nanoTime();
      Path converted = ObdImages.convert(image, Files.createDirectories(dir.resolve("obd")), "v1");
      double convertSeconds = (System.nanoTime() - t) / 1e9;
      String obdRef = registry.host() + "/cold/obd:v1";
      ObdImages.push(converted, "v1", obdRef);
      long imageBytes = blobBytes(dir.resolve("plain/push-layout/blobs/sha256"));
      image = null; // the layers in memory are no longer needed

      Path bs = dir.resolve("backstore");
      backstore = E2eSteps.startBackstore(dist, bs, 4);
      daemon = E2eSteps.startSnapshotter(dist, dir, bs, registry.host());
      String cmdScript = "head -c " + readBytes + " /data/file-1 | md5sum";
      OciImage warm = TestImages.small("unused", "warm-up");
      String warmPlain =
          warm.push(
              Files.createDirectories(dir.resolve("warm")), registry.host(), "warm/oci", "v1");
      Path warmConverted =
          ObdImages.convert(warm, Files.createDirectories(dir.resolve("warm-obd")), "v1");
      String warmObd = registry.host() + "/warm/obd:v1";
      ObdImages.push(warmConverted, "v1", warmObd);
      List<double[]> baseline = new ArrayList<>();
      List<double[]> lazy = new ArrayList<>();
      try (Containerd containerd =
          Containerd.start(
              dir.resolve("containerd"),
              Containerd.config(dir.resolve("containerd"), dir.resolve("obd.sock")),
              registry.host())) {
        for (int r = 0; r < rounds; r++) {
          baselineRound(containerd, registry, warmPlain, "cat /data/id", "warm-o-" + r);
          baseline.add(baselineRound(containerd, registry, plainRef, cmdScript, "cold-o-" + r));
          backstore.terminate(Duration.ofSeconds(30));
          E2eSteps.deleteTree(bs.resolve("cache"));
          backstore = E2eSteps.startBackstore(dist, bs, 4);
          lazyRound(containerd, registry, warmObd, "cat /data/id");
          lazy.add(lazyRound(containerd, registry, obdRef, cmdScript));
        }
      }
      double[] b = median(baseline);
      double[] l = median(lazy);
      System.out.printf(
          Locale.ROOT,
          "image: %d MiB of layer blobs (busybox + %d files of %d MiB, random), entrypoint reads"
              + " %d KiB; obdctl convert took %.1f s; %d rounds, medians%n%n",
          imageBytes >> 20,
          FILES,
          perFile >> 20,
          readBytes >> 10,
          convertSeconds,
          rounds);
      System.out.println(
          "| path | pull start → first output | of which pull | layer bytes from the registry |"
              + " share of image |");
      System.out.println("|---|---|---|---|---|");
      row("ordinary image, ctr pull + containerd overlayfs", b, imageBytes);
      row("OverlayBD image, CRI pull + obd-snapshotter (lazy)", l, imageBytes);
      System.out.printf(
          Locale.ROOT,
          "%nspeed-up %.1f×; lazy fetched %.2f%% of the image's bytes%n",
          b[0] / l[0],
          100.0 * l[1] / imageBytes);
    } finally {
      if (daemon != null) {
        daemon.terminate(Duration.ofSeconds(30));
      }
      Containerd.unmountBelow(dir.resolve("obd-root"));
      if (backstore != null) {
        backstore.terminate(Duration.ofSeconds(60));
      }
      Containerd.unmountBelow(dir);
      String keep = System.getProperty("obd.bench.logs");
      if (keep != null) { // -Dobd.bench.logs=DIR keeps the daemons' logs for a closer look
        new ProcessBuilder(
                "sh",
                "-c",
                "mkdir -p \"$1\" && find \"$2\" -name '*.log' -exec cp {} \"$1\" \\;",
                "sh",
                keep,
                dir.toString())
            .inheritIO()
            .start()
            .waitFor();
      }
      new ProcessBuilder("rm", "-rf", dir.toString()).inheritIO().start().waitFor();
    }
  }

  private static void row(String path, double[] v, long imageBytes) {
    System.out.printf(
        Locale.ROOT,
        "| %s | %.2f s | %.2f s | %.1f MiB | %.2f%% |%n",
        path,
        v[0],
        v[2],
        v[1] / (1 << 20),
        100.0 * v[1] / imageBytes);
  }

  private static double[] baselineRound(
      Containerd c, LocalRegistry registry, String ref, String script, String ns) throws Exception {
    long logAt = Files.size(registry.log());
    long t0 = System.nanoTime();
    c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "overlayfs", ref);
    double pulled = (System.nanoTime() - t0) / 1e9;
    double seconds = secondsToFirstOutput(c, ns, "overlayfs", ref, script, t0);
    long bytes = blobBytesServed(registry.log(), logAt);
    c.ctr(ns, "images", "rm", "--sync", ref);
    return new double[] {seconds, bytes, pulled};
  }

  private static double[] lazyRound(Containerd c, LocalRegistry registry, String ref, String script)
      throws Exception {
    try (CriClient cri = new CriClient(c.socket())) {
      cri.list(); // connected before the clock starts, as kubelet is
      long logAt = Files.size(registry.log());
      long t0 = System.nanoTime();
      cri.pull(ref);
      double pulled = (System.nanoTime() - t0) / 1e9;
      double seconds = secondsToFirstOutput(c, "k8s.io", Containerd.SNAPSHOTTER, ref, script, t0);
      long bytes = blobBytesServed(registry.log(), logAt);
      cri.remove(ref);
      return new double[] {seconds, bytes, pulled};
    }
  }

  private static long blobBytes(Path blobs) throws IOException {
    long total = 0;
    try (var files = Files.list(blobs)) {
      for (Path f : files.toList()) {
        if (Files.size(f) > 64 << 10) { // the layers, not manifest and config
          total += Files.size(f);
        }
      }
    }
    return total;
  }

  private static OciImage bigImage(int perFile, int readBytes) {
    Random rnd = new Random(500);
    List<TarLayer> layers = new ArrayList<>();
    layers.add(TestImages.busybox().dir("data", 0755));
    for (int i = 1; i <= FILES; i++) {
      byte[] blob = new byte[perFile];
      rnd.nextBytes(blob);
      layers.add(new TarLayer().file("data/file-" + i, 0644, blob));
    }
    return new OciImage(
        "unused",
        layers,
        List.of("/bin/sh", "-c", "head -c " + readBytes + " /data/file-1 | md5sum"));
  }
}
