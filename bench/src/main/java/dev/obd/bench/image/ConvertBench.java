package dev.obd.bench.image;

import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.oci.ObdImages;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPOutputStream;

/**
 * {@code obdctl convert} as a platform runs it, each conversion a fresh {@code obdctl} process of
 * the built distribution: registry to registry (a real docker-registry on loopback) next to layout
 * to layout and to GNU {@code tar -xzf} of the same layers (the baseline), and the conversion of a
 * second image sharing its base layer with one converted before, with the layer records against
 * without them. Every round runs on a quiet machine and again beside one busy loop per core.
 *
 * <p>Usage, as root (conversion mounts): {@code bench/run dev.obd.bench.image.ConvertBench DIST_DIR
 * [ROUNDS]}, with the distribution built ({@code distribution/target/obd-snapshotter-<v>}).
 */
public final class ConvertBench {
  private ConvertBench() {}

  public static void main(String[] args) throws Exception {
    Path dist = Path.of(args[0]).toAbsolutePath();
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 2;
    System.setProperty("obd.distDir", dist.toString());
    Path obdctl = ObdImages.dist().resolve("bin/obdctl");
    Path dir = Files.createTempDirectory("obd-convert-bench-");
    try (LocalRegistry registry = LocalRegistry.start(dir.resolve("registry"))) {
      String host = registry.host();
      // image a: this JDK, then 400 shared libraries; image b: the same JDK layer, then a small
      // layer of its own (an application on a shared base)
      Path a = dir.resolve("a");
      long tarBytes = ImageBuildBench.sourceImage(a);
      Path b = dir.resolve("b");
      long newTarBytes = imageOnTheSameBase(a, b);
      ObdImages.push(a, "v1", host + "/src/a:v1");
      ObdImages.push(b, "v1", host + "/src/b:v1");
      Path work = Files.createDirectories(dir.resolve("work"));
      Path db = dir.resolve("a.db");
      run(
          obdctl,
          "convert",
          "--source",
          host + "/src/a:v1",
          "--target",
          host + "/obd/a-db:v1",
          "--plain-http",
          "--db",
          db.toString(),
          "--workdir",
          work.toString());
      System.out.printf(
          "image a: 2 gzip layers, %d MiB of tar; image b: a's first layer and %d MiB of tar of"
              + " its own; 64 GiB disks%n",
          tarBytes >> 20, newTarBytes >> 20);
      int n = 0;
      for (boolean loaded : new boolean[] {false, true}) {
        for (int r = 1; r <= rounds; r++) {
          n++;
          List<Process> load = loaded ? busyLoops() : List.of();
          try {
            Path out = dir.resolve("out-" + n);
            double layout = layoutConversion(obdctl, a, out, work, "ext4");
            double erofs = layoutConversion(obdctl, a, out, work, "erofs");
            double remote =
                time(
                    obdctl,
                    "convert",
                    "--source",
                    host + "/src/a:v1",
                    "--target",
                    host + "/obd/a-" + n + ":v1",
                    "--plain-http",
                    "--no-reuse",
                    "--workdir",
                    work.toString());
            Path unpack = dir.resolve("unpacked");
            long t0 = System.nanoTime();
            ImageBuildBench.untar(a, unpack);
            double untar = (System.nanoTime() - t0) / 1e9;
            ImageBuildBench.deleteTree(unpack);
            double scratch =
                time(
                    obdctl,
                    "convert",
                    "--source",
                    host + "/src/b:v1",
                    "--target",
                    host + "/obd/b-scratch-" + n + ":v1",
                    "--plain-http",
                    "--no-reuse",
                    "--workdir",
                    work.toString());
            // the records as a's conversion left them, so each round takes a's layer afresh
            Path roundDb = dir.resolve("round-" + n + ".db");
            Files.copy(db, roundDb);
            double reuse =
                time(
                    obdctl,
                    "convert",
                    "--source",
                    host + "/src/b:v1",
                    "--target",
                    host + "/obd/b-reuse-" + n + ":v1",
                    "--plain-http",
                    "--db",
                    roundDb.toString(),
                    "--workdir",
                    work.toString());
            System.out.printf(
                "round %d%s: registry->registry %.1f s = %.0f MB/s; layout->layout %.1f s ="
                    + " %.0f MB/s; layout->layout erofs %.1f s = %.0f MB/s; baseline tar -xzf"
                    + " %.1f s = %.0f MB/s; ratios to tar: registry %.2f, layout %.2f, erofs"
                    + " %.2f; image b from scratch %.1f s, with a's layer reused %.1f s (ratio"
                    + " %.2f)%n",
                r,
                loaded ? " (beside busy loops)" : "",
                remote,
                ImageBuildBench.mbps(tarBytes, remote),
                layout,
                ImageBuildBench.mbps(tarBytes, layout),
                erofs,
                ImageBuildBench.mbps(tarBytes, erofs),
                untar,
                ImageBuildBench.mbps(tarBytes, untar),
                untar / remote,
                untar / layout,
                untar / erofs,
                scratch,
                reuse,
                reuse / scratch);
          } finally {
            for (Process p : load) {
              p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
          }
        }
      }
    } finally {
      ImageBuildBench.deleteTree(dir);
    }
  }

  /** Layout {@code b}: the first layer of layout {@code a}, then files of /usr/share. */
  static long imageOnTheSameBase(Path a, Path b) throws Exception {
    ImageBuildBench.deleteTree(b);
    OciLayout from = OciLayout.open(a);
    Descriptor manifest = from.resolve("v1");
    var m = from.readJson(manifest);
    var config = from.readJson(OciLayout.descriptor(m.path("config"), "manifest of a"));
    Descriptor base = OciLayout.descriptor(m.path("layers").get(0), "manifest of a");
    OciLayout layout = OciLayout.openOrCreate(b);
    layout.copyIn(from.verifiedBlob(base), base.digest());
    Path tar = b.resolve("layer.tar");
    ImageBuildBench.writeTar(Path.of("/usr/share/locale"), "usr/share/locale/", tar, 3000);
    long bytes = Files.size(tar);
    String diffId = Digest.of(tar).toString();
    Path gz = b.resolve("layer.tar.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz), 1 << 16)) {
      Files.copy(tar, out);
    }
    Files.delete(tar);
    Digest d = Digest.of(gz);
    Descriptor top =
        new Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", d, Files.size(gz));
    layout.moveIn(gz, d);
    String cfg =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
            + config.path("rootfs").path("diff_ids").get(0).asText()
            + "\",\""
            + diffId
            + "\"]}}";
    Descriptor c = layout.putBlob(MediaTypes.OCI_CONFIG, cfg.getBytes());
    String mf =
        "{\"schemaVersion\":2,\"mediaType\":\""
            + MediaTypes.OCI_MANIFEST
            + "\",\"config\":"
            + OciLayout.toJson(c)
            + ",\"layers\":["
            + OciLayout.toJson(base)
            + ","
            + OciLayout.toJson(top)
            + "]}";
    layout.tag("v1", layout.putBlob(MediaTypes.OCI_MANIFEST, mf.getBytes()));
    return bytes;
  }

  /** Seconds a fresh obdctl takes to convert layout {@code a} to layout {@code out} (deleted). */
  private static double layoutConversion(Path obdctl, Path a, Path out, Path work, String fsType)
      throws Exception {
    double s =
        time(
            obdctl,
            "convert",
            "--source",
            a + ":v1",
            "--target",
            out + ":v1",
            "--no-reuse",
            "--fstype",
            fsType,
            "--workdir",
            work.toString());
    ImageBuildBench.deleteTree(out);
    return s;
  }

  private static List<Process> busyLoops() throws Exception {
    List<Process> ps = new ArrayList<>();
    for (int i = 0; i < Runtime.getRuntime().availableProcessors(); i++) {
      ps.add(new ProcessBuilder("sh", "-c", "while :; do :; done").start());
    }
    return ps;
  }

  private static double time(Object... argv) throws Exception {
    long t = System.nanoTime();
    run(argv);
    return (System.nanoTime() - t) / 1e9;
  }

  private static void run(Object... argv) throws Exception {
    String[] s = new String[argv.length];
    for (int i = 0; i < argv.length; i++) {
      s[i] = argv[i].toString();
    }
    ImageFixture.run(s);
  }
}
