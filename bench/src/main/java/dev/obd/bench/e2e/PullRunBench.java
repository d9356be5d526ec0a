package dev.obd.bench.e2e;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Pull + unpack + first run of ordinary images through obd-snapshotter next to containerd's
 * built-in overlayfs snapshotter: the same containerd, the same local registry, the same run,
 * alternating, each pull from an empty content store (a fresh namespace, removed afterwards).
 *
 * <p>Usage: {@code bench/run dev.obd.bench.e2e.PullRunBench OBD_LAUNCHER [ROUNDS]}.
 */
public final class PullRunBench {
  private PullRunBench() {}

  public static void main(String[] args) throws Exception {
    Path launcher = Path.of(args[0]);
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    Path dir = Files.createTempDirectory("obd-pullrun-");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"));
        ChildProcess daemon =
            ChildProcess.start(
                "obd-snapshotter",
                List.of(
                    launcher.toString(),
                    "--root",
                    dir.resolve("obd-root").toString(),
                    "--address",
                    dir.resolve("obd.sock").toString()),
                dir.resolve("obd.log"),
                Map.of("OBD_CDS_DIR", dir.resolve("cds").toString()))) {
      daemon.awaitCondition(
          "socket", Duration.ofSeconds(120), () -> Files.exists(dir.resolve("obd.sock")));
      try (Containerd containerd =
          Containerd.start(
              dir.resolve("containerd"),
              Containerd.config(dir.resolve("containerd"), dir.resolve("obd.sock")),
              registry.host())) {
        Map<String, String> images = new LinkedHashMap<>();
        images.put(
            "40 layers (busybox + 39 small layers)",
            TestImages.manyLayers("unused", 40)
                .push(
                    Files.createDirectories(dir.resolve("img40")),
                    registry.host(),
                    "bench/forty",
                    "v1"));
        images.put(
            "~300 MB (busybox + 10 layers of 30 MiB)",
            bigImage()
                .push(
                    Files.createDirectories(dir.resolve("img300")),
                    registry.host(),
                    "bench/big",
                    "v1"));
        System.out.println(
            "| image | snapshotter | pull + unpack (median) | first run (median) | total | ratio to overlayfs |");
        System.out.println("|---|---|---|---|---|---|");
        for (Map.Entry<String, String> image : images.entrySet()) {
          List<double[]> overlay = new ArrayList<>();
          List<double[]> ours = new ArrayList<>();
          for (int r = 0; r < rounds; r++) {
            overlay.add(pullAndRun(containerd, "overlayfs", image.getValue(), "b-o-" + r));
            ours.add(pullAndRun(containerd, Containerd.SNAPSHOTTER, image.getValue(), "b-x-" + r));
          }
          double[] o = median(overlay);
          double[] x = median(ours);
          row(image.getKey(), "containerd overlayfs", o, o);
          row(image.getKey(), "obd-snapshotter", x, o);
        }
      }
    } finally {
      new ProcessBuilder("rm", "-rf", dir.toString()).inheritIO().start().waitFor();
    }
  }

  private static void row(String image, String sn, double[] v, double[] base) {
    System.out.println(
        String.format(
            Locale.ROOT,
            "| %s | %s | %.2f s | %.2f s | %.2f s | %.2f |",
            image,
            sn,
            v[0],
            v[1],
            v[0] + v[1],
            (v[0] + v[1]) / (base[0] + base[1])));
  }

  /** Seconds for the pull (with unpack) and for the first {@code ctr run}; then cleans up. */
  private static double[] pullAndRun(Containerd c, String snapshotter, String ref, String ns) {
    long t0 = System.nanoTime();
    c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", snapshotter, ref);
    long t1 = System.nanoTime();
    c.ctr(
        ns, "run", "--rm", "--snapshotter", snapshotter, ref, "first-run", "/bin/cat", "/data/top");
    long t2 = System.nanoTime();
    c.ctr(ns, "images", "rm", "--sync", ref);
    return new double[] {(t1 - t0) / 1e9, (t2 - t1) / 1e9};
  }

  private static double[] median(List<double[]> samples) {
    double[] out = new double[2];
    for (int i = 0; i < 2; i++) {
      int k = i;
      double[] v = samples.stream().mapToDouble(s -> s[k]).sorted().toArray();
      out[i] = v[v.length / 2];
    }
    return out;
  }

  private static OciImage bigImage() {
    Random rnd = new Random(300);
    List<TarLayer> layers = new ArrayList<>();
    layers.add(TestImages.busybox().dir("data", 0755));
    for (int i = 1; i <= 10; i++) {
      byte[] blob = new byte[30 << 20];
      rnd.nextBytes(blob);
      layers.add(
          new TarLayer()
              .file("data/blob-" + i, 0644, blob)
              .file("data/top", 0644, "top " + i + "\n"));
    }
    return new OciImage("unused", layers, List.of("/bin/cat", "/data/top"));
  }
}
