package dev.obd.bench.e2e;

import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.containerd.CriClient;
import dev.obd.testsupport.oci.ObdImages;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
  private static final Pattern BLOB_GET =
      Pattern.compile("\"GET /v2/[^\"]*/blobs/sha256:[0-9a-f]{64} HTTP/1\\.1\" (\\d{3}) (\\d+)");
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
      backstore = startBackstore(dist, bs);
      Path config = dir.resolve("obd-config.json");
      Files.writeString(
          config,
          ("{\"attacher\": \"nbd\", \"backstoreAddress\": \"%s\","
                  + " \"mirrorRegistry\": [{\"host\": \"%s\", \"insecure\": true}]}")
              .formatted(bs.resolve("backstore.sock"), registry.host()));
      daemon =
          ChildProcess.start(
              "obd-snapshotter",
              List.of(
                  dist.resolve("bin/obd-snapshotter").toString(),
                  "--config",
                  config.toString(),
                  "--root",
                  dir.resolve("obd-root").toString(),
                  "--address",
                  dir.resolve("obd.sock").toString()),
              dir.resolve("obd.log"),
              Map.of("OBD_CDS_DIR", dir.resolve("cds").toString()));
      daemon.awaitCondition(
          "socket", Duration.ofSeconds(120), () -> Files.exists(dir.resolve("obd.sock")));
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
          deleteTree(bs.resolve("cache"));
          backstore = startBackstore(dist, bs);
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
    double seconds = firstOutput(c, ns, "overlayfs", ref, script, t0);
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
      double seconds = firstOutput(c, "k8s.io", Containerd.SNAPSHOTTER, ref, script, t0);
      long bytes = blobBytesServed(registry.log(), logAt);
      cri.remove(ref);
      return new double[] {seconds, bytes, pulled};
    }
  }

  /**
   * Starts {@code ctr run}; seconds from {@code t0} to its first output line; waits for its end.
   */
  private static double firstOutput(
      Containerd c, String ns, String snapshotter, String ref, String script, long t0)
      throws Exception {
    Process p =
        new ProcessBuilder(
                "ctr",
                "-a",
                c.socket().toString(),
                "-n",
                ns,
                "run",
                "--rm",
                "--snapshotter",
                snapshotter,
                ref,
                "cold-" + System.nanoTime(),
                "/bin/sh",
                "-c",
                script)
            .redirectErrorStream(true)
            .start();
    p.getOutputStream().close();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line = out.readLine();
      double seconds = (System.nanoTime() - t0) / 1e9;
      if (line == null || line.isBlank() || line.startsWith("ctr:")) {
        throw new IllegalStateException("unexpected first output of the entrypoint: " + line);
      }
      out.transferTo(java.io.Writer.nullWriter());
      if (!p.waitFor(2, TimeUnit.MINUTES) || p.exitValue() != 0) {
        throw new IllegalStateException("ctr run did not finish cleanly");
      }
      return seconds;
    } finally {
      p.destroyForcibly();
    }
  }

  /** Bytes of successful blob GETs in the registry's log after offset {@code from}. */
  private static long blobBytesServed(Path log, long from) throws IOException {
    long total = 0;
    byte[] all = Files.readAllBytes(log);
    String text = new String(all, (int) from, all.length - (int) from, StandardCharsets.UTF_8);
    Matcher m = BLOB_GET.matcher(text);
    while (m.find()) {
      if (m.group(1).startsWith("2")) {
        total += Long.parseLong(m.group(2));
      }
    }
    return total;
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

  private static ChildProcess startBackstore(Path dist, Path dir) throws IOException {
    Files.createDirectories(dir);
    Path config = dir.resolve("backstore.json");
    Files.writeString(
        config,
        ("{\"socket\": \"%1$s/backstore.sock\", \"stateDir\": \"%1$s/state\", \"runDir\":"
                + " \"%1$s/run\", \"credentialFilePath\": \"%1$s/none.json\","
                + " \"dockerConfigPath\": \"%1$s/none.json\", \"cacheConfig\": {\"cacheDir\":"
                + " \"%1$s/cache\", \"cacheSizeGB\": 4}}")
            .formatted(dir));
    ChildProcess p =
        ChildProcess.start(
            "obd-backstore",
            List.of(dist.resolve("bin/obd-backstore").toString(), "--config", config.toString()),
            dir.resolve("backstore-" + System.nanoTime() + ".log"),
            Map.of());
    p.awaitCondition(
        "control socket",
        Duration.ofSeconds(60),
        () -> dev.obd.backstore.api.BackstoreClient.answers(dir.resolve("backstore.sock")));
    return p;
  }

  private static void deleteTree(Path p) throws Exception {
    new ProcessBuilder("rm", "-rf", p.toString()).inheritIO().start().waitFor();
  }

  private static double[] median(List<double[]> samples) {
    double[] out = new double[samples.get(0).length];
    for (int i = 0; i < out.length; i++) {
      int k = i;
      double[] v = samples.stream().mapToDouble(s -> s[k]).sorted().toArray();
      out[i] = v[v.length / 2];
    }
    return out;
  }
}
