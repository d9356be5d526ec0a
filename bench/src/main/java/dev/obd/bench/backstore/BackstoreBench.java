package dev.obd.bench.backstore;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Ext4Images;
import dev.obd.testsupport.LocalRegistry;
import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
 * Data-plane benchmark of obd-backstore (nbdfuse + loop path, the only one this kernel has),
 * against the physical limit measured in the same run: the same ext4 image read through a plain
 * read-only loop device. Measures sequential file reads and 4 KiB O_DIRECT random reads through the
 * mounted device with a cold range cache (blocks fetched from a docker-registry on loopback) and a
 * warm one; registry bytes fetched to list a directory and read one file; and the daemon's idle RSS
 * per device. Needs root, mkfs.ext4, losetup, nbdfuse, docker-registry.
 *
 * <p>Usage: {@code bench/run dev.obd.bench.backstore.BackstoreBench [workDir]}
 */
public final class BackstoreBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int BIG_FILES = 40;
  private static final int BIG_SIZE = 4 << 20;
  private static final long IMAGE = 256L << 20;
  private static final int RAND_THREADS = 8;
  private static final int RAND_OPS = 1000;

  private final Path work;
  private final Map<String, String> rows = new LinkedHashMap<>();

  private BackstoreBench(Path work) {
    this.work = work;
  }

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args.length > 0 ? args[0] : "/tmp/obd-bench-backstore");
    Mounts.run(List.of("rm", "-rf", work.toString()), null);
    Files.createDirectories(work);
    new BackstoreBench(work).run();
  }

  private void run() throws Exception {
    Path src = work.resolve("src");
    Files.createDirectories(src.resolve("big"));
    Files.createDirectories(src.resolve("small"));
    Random r = new Random(5);
    for (int i = 0; i < BIG_FILES; i++) {
      byte[] b = new byte[BIG_SIZE];
      r.nextBytes(b);
      Files.write(src.resolve("big/f" + i + ".bin"), b);
    }
    for (int i = 0; i < 200; i++) {
      Files.writeString(src.resolve("small/s" + i + ".txt"), "small file " + i + "\n");
    }
    Path ext4 = Ext4Images.fromDirectory(src, work.resolve("image.ext4"), IMAGE);
    Path blob = work.resolve("layer.blob");
    BlobInfo info =
        LayerCommitter.commit(
            ext4, java.util.Optional.empty(), blob, LayerCommitter.Options.of(LayerUuid.random()));
    System.out.printf(
        "image %d MiB ext4, %d MiB of file data; blob %d bytes%n",
        IMAGE >> 20, (long) BIG_FILES * BIG_SIZE >> 20, info.size());

    Map<String, BlockReads.Result> seq = new LinkedHashMap<>();
    Map<String, BlockReads.Result> rand = new LinkedHashMap<>();
    long span = IMAGE;

    // baseline: the raw ext4 image through a plain read-only loop device
    Path mnt = Files.createDirectories(work.resolve("mnt"));
    String loop =
        Mounts.run(List.of("losetup", "-f", "-r", "--show", ext4.toString()), null).trim();
    try (Mounts m = new Mounts()) {
      m.mount(mnt, null, "-t", "ext4", "-o", "ro", loop);
      seq.put("loop (raw image)", BlockReads.sequentialFiles(mnt.resolve("big")));
      rand.put(
          "loop (raw image)", BlockReads.random4k(Path.of(loop), span, RAND_THREADS, RAND_OPS));
    } finally {
      Mounts.run(List.of("losetup", "-d", loop), null);
    }

    try (LocalRegistry registry = LocalRegistry.start(work.resolve("registry"))) {
      push(registry.url(), "bench/img", blob, info.digest());
      String blobs = registry.url() + "/v2/bench/img/blobs";
      URI blobUri = URI.create(blobs + "/" + info.digest());
      rows.put(
          "registry alone: whole blob in 256 KiB range GETs, 4 parallel",
          String.format(
              Locale.ROOT, "%.0f MB/s", RegistryProbe.throughput(blobUri, info.size(), 262144, 4)));
      rows.put(
          "registry alone: whole blob in 1 MiB range GETs, 4 parallel",
          String.format(
              Locale.ROOT,
              "%.0f MB/s",
              RegistryProbe.throughput(blobUri, info.size(), 1 << 20, 4)));

      // cold then warm, sequential
      try (Daemon d = Daemon.start(work.resolve("d-seq"))) {
        DeviceInfo dev = d.add(config("seq", blobs, info));
        try (Mounts m = new Mounts()) {
          m.mount(mnt, null, "-t", "ext4", "-o", "ro", dev.device());
          seq.put(
              "backstore, cold cache (registry)", BlockReads.sequentialFiles(mnt.resolve("big")));
          seq.put("backstore, warm cache", BlockReads.sequentialFiles(mnt.resolve("big")));
        }
        rand.put(
            "backstore, warm cache",
            BlockReads.random4k(Path.of(dev.device()), span, RAND_THREADS, RAND_OPS));
        d.remove(dev);
      }
      // cold random
      try (Daemon d = Daemon.start(work.resolve("d-rand"))) {
        DeviceInfo dev = d.add(config("rand", blobs, info));
        rand.put(
            "backstore, cold cache (registry)",
            BlockReads.random4k(Path.of(dev.device()), span, RAND_THREADS, RAND_OPS));
        d.remove(dev);
      }
      // lazy: list a directory and read one small file
      try (Daemon d = Daemon.start(work.resolve("d-lazy"))) {
        DeviceInfo dev = d.add(config("lazy", blobs, info));
        long fetched;
        try (Mounts m = new Mounts()) {
          m.mount(mnt, null, "-t", "ext4", "-o", "ro", dev.device());
          try (var s = Files.list(mnt.resolve("small"))) {
            s.count();
          }
          Files.readString(mnt.resolve("small/s7.txt"));
          fetched = d.client.info(Duration.ofSeconds(5)).registryBytes();
        }
        d.remove(dev);
        rows.put(
            "registry bytes to mount, list a 200-file directory and read one file",
            String.format(
                Locale.ROOT,
                "%d of %d blob bytes (%.2f%%)",
                fetched,
                info.size(),
                100.0 * fetched / info.size()));
      }
      // idle RSS per device
      try (Daemon d = Daemon.start(work.resolve("d-rss"))) {
        long base = d.rssKiB();
        List<DeviceInfo> devs = new ArrayList<>();
        devs.add(d.add(config("rss0", blobs, info)));
        Thread.sleep(2000);
        long one = d.rssKiB();
        for (int i = 1; i < 5; i++) {
          devs.add(d.add(config("rss" + i, blobs, info)));
        }
        Thread.sleep(2000);
        long five = d.rssKiB();
        long fuse = nbdfuseRssKiB(d.dir);
        for (DeviceInfo x : devs) {
          d.remove(x);
        }
        rows.put("daemon RSS idle, no device", base / 1024 + " MiB");
        rows.put("daemon RSS idle, 1 / 5 devices", one / 1024 + " MiB / " + five / 1024 + " MiB");
        rows.put(
            "daemon RSS per extra idle device",
            String.format(Locale.ROOT, "%.1f MiB", (five - one) / 4.0 / 1024));
        rows.put(
            "nbdfuse helper RSS per device",
            String.format(Locale.ROOT, "%.1f MiB", fuse / 5.0 / 1024));
      }
    }
    report(seq, rand);
  }

  private void report(Map<String, BlockReads.Result> seq, Map<String, BlockReads.Result> rand) {
    BlockReads.Result seqBase = seq.get("loop (raw image)");
    BlockReads.Result randBase = rand.get("loop (raw image)");
    System.out.println();
    System.out.println(
        "| Sequential read of 160 MiB of files (page cache dropped) | MB/s | vs loop |");
    System.out.println("|---|---:|---:|");
    seq.forEach(
        (k, v) ->
            System.out.printf(
                Locale.ROOT,
                "| %s | %.0f | %.2f |%n",
                k,
                v.mbPerSecond(),
                v.mbPerSecond() / seqBase.mbPerSecond()));
    System.out.println();
    System.out.printf(
        "| 4 KiB O_DIRECT random reads, %d threads x %d, over %d MiB | IOPS | mean latency | vs loop |%n",
        RAND_THREADS, RAND_OPS, IMAGE >> 20);
    System.out.println("|---|---:|---:|---:|");
    rand.forEach(
        (k, v) ->
            System.out.printf(
                Locale.ROOT,
                "| %s | %.0f | %.0f us | %.3f |%n",
                k,
                v.iops(),
                v.meanLatencyMicros(RAND_THREADS),
                v.iops() / randBase.iops()));
    System.out.println();
    System.out.println("| Other | |");
    System.out.println("|---|---|");
    rows.forEach((k, v) -> System.out.println("| " + k + " | " + v + " |"));
  }

  private Path config(String name, String blobs, BlobInfo info) throws IOException {
    Path f = work.resolve("configs").resolve(name).resolve("config.v1.json");
    Files.createDirectories(f.getParent());
    Files.write(
        f,
        JSON.writeValueAsBytes(
            Map.of(
                "repoBlobUrl", blobs,
                "lowers", List.of(Map.of("digest", info.digest(), "size", info.size())),
                "upper", Map.of())));
    return f;
  }

  private static long nbdfuseRssKiB(Path dir) {
    return ProcessHandle.allProcesses()
        .filter(
            p ->
                p.info()
                    .commandLine()
                    .map(c -> c.contains("nbdfuse") && c.contains(dir.toString()))
                    .orElse(false))
        .mapToLong(p -> rssKiB(p.pid()))
        .sum();
  }

  static long rssKiB(long pid) {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (l.startsWith("VmRSS:")) {
          return Long.parseLong(l.replaceAll("\\D", ""));
        }
      }
    } catch (IOException e) {
      return 0;
    }
    return 0;
  }

  private static void push(URI base, String repo, Path blob, String digest) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> started =
        http.send(
            HttpRequest.newBuilder(base.resolve("/v2/" + repo + "/blobs/uploads/"))
                .POST(HttpRequest.BodyPublishers.noBody())
                .build(),
            HttpResponse.BodyHandlers.ofString());
    String location = started.headers().firstValue("Location").orElseThrow();
    HttpResponse<String> done =
        http.send(
            HttpRequest.newBuilder(
                    base.resolve(
                        location + (location.contains("?") ? "&" : "?") + "digest=" + digest))
                .header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofFile(blob))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (done.statusCode() != 201) {
      throw new IOException("push blob: " + done.statusCode() + " " + done.body());
    }
  }

  /** obd-backstore as its own JVM with default daemon JVM settings, fuse attach mode. */
  private static final class Daemon implements AutoCloseable {
    final Path dir;
    final ChildProcess process;
    final BackstoreClient client;

    private Daemon(Path dir, ChildProcess process) {
      this.dir = dir;
      this.process = process;
      this.client = new BackstoreClient(dir.resolve("run/backstore.sock"));
    }

    static Daemon start(Path dir) throws IOException {
      Files.createDirectories(dir);
      Map<String, Object> cfg = new LinkedHashMap<>();
      cfg.put("socket", dir.resolve("run/backstore.sock").toString());
      cfg.put("stateDir", dir.resolve("state").toString());
      cfg.put("runDir", dir.resolve("run").toString());
      cfg.put("attachMode", "fuse");
      cfg.put("credentialFilePath", dir.resolve("cred.json").toString());
      cfg.put("dockerConfigPath", dir.resolve("docker.json").toString());
      cfg.put("cacheConfig", Map.of("cacheDir", dir.resolve("cache").toString(), "cacheSizeGB", 2));
      Path config = dir.resolve("backstore.json");
      Files.write(config, JSON.writeValueAsBytes(cfg));
      ChildProcess p =
          ChildProcess.start(
              "obd-backstore",
              List.of(
                  Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                  "-XX:+UseSerialGC",
                  "-Xmx256m",
                  "-XX:TieredStopAtLevel=1",
                  "-cp",
                  System.getProperty("java.class.path"),
                  "dev.obd.backstore.cli.BackstoreMain",
                  "--config",
                  config.toString()),
              dir.resolve("daemon.log"),
              Map.of());
      Daemon d = new Daemon(dir, p);
      p.awaitCondition(
          "control API",
          Duration.ofSeconds(60),
          () -> BackstoreClient.answers(dir.resolve("run/backstore.sock")));
      return d;
    }

    DeviceInfo add(Path config) throws IOException {
      return client.add(config, Duration.ofSeconds(60));
    }

    void remove(DeviceInfo d) throws IOException {
      client.remove(d.device(), Duration.ofSeconds(60));
    }

    long rssKiB() {
      return BackstoreBench.rssKiB(process.pid());
    }

    @Override
    public void close() {
      process.terminate(Duration.ofSeconds(20));
    }
  }
}
