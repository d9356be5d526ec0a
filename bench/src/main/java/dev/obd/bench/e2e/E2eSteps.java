package dev.obd.bench.e2e;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.containerd.Containerd;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the end-to-end benchmarks do alike: start the distribution's obd-snapshotter and
 * obd-backstore, time a first {@code ctr run} to its first output line, count the layer bytes the
 * registry served, take medians.
 */
final class E2eSteps {
  private static final Pattern BLOB_GET =
      Pattern.compile("\"GET /v2/[^\"]*/blobs/sha256:[0-9a-f]{64} HTTP/1\\.1\" (\\d{3}) (\\d+)");

  private E2eSteps() {}

  /** obd-backstore of {@code dist} with its socket, state and cache under {@code dir}. */
  static ChildProcess startBackstore(Path dist, Path dir, int cacheGb) throws IOException {
    Files.createDirectories(dir);
    Path config = dir.resolve("backstore.json");
    Files.writeString(
        config,
        ("{\"socket\": \"%1$s/backstore.sock\", \"stateDir\": \"%1$s/state\", \"runDir\":"
                + " \"%1$s/run\", \"credentialFilePath\": \"%1$s/none.json\","
                + " \"dockerConfigPath\": \"%1$s/none.json\", \"cacheConfig\": {\"cacheDir\":"
                + " \"%1$s/cache\", \"cacheSizeGB\": %2$d}}")
            .formatted(dir, cacheGb));
    ChildProcess p =
        ChildProcess.start(
            "obd-backstore",
            List.of(dist.resolve("bin/obd-backstore").toString(), "--config", config.toString()),
            dir.resolve("backstore-" + System.nanoTime() + ".log"),
            Map.of());
    p.awaitCondition(
        "control socket",
        Duration.ofSeconds(60),
        () -> BackstoreClient.answers(dir.resolve("backstore.sock")));
    return p;
  }

  /**
   * obd-snapshotter of {@code dist} (its launcher) on {@code dir}/obd-root and {@code
   * dir}/obd.sock, attaching devices through the backstore in {@code backstoreDir} and reaching
   * {@code registryHost} over plain http; returns once its socket exists.
   */
  static ChildProcess startSnapshotter(Path dist, Path dir, Path backstoreDir, String registryHost)
      throws IOException {
    Path config = dir.resolve("obd-config.json");
    Files.writeString(
        config,
        ("{\"attacher\": \"nbd\", \"backstoreAddress\": \"%s\","
                + " \"mirrorRegistry\": [{\"host\": \"%s\", \"insecure\": true}]}")
            .formatted(backstoreDir.resolve("backstore.sock"), registryHost));
    ChildProcess daemon =
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
    return daemon;
  }

  /**
   * Starts {@code ctr run --rm} of {@code ref} running {@code script} with {@code c}'s own ctr;
   * returns the seconds from {@code t0} to its first output line, after waiting for its end.
   */
  static double secondsToFirstOutput(
      Containerd c, String ns, String snapshotter, String ref, String script, long t0)
      throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(
                c.ctrCommand(
                    ns,
                    "run",
                    "--rm",
                    "--snapshotter",
                    snapshotter,
                    ref,
                    "first-" + System.nanoTime(),
                    "/bin/sh",
                    "-c",
                    script))
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
      out.transferTo(Writer.nullWriter());
      if (!p.waitFor(2, TimeUnit.MINUTES) || p.exitValue() != 0) {
        throw new IllegalStateException("ctr run did not finish cleanly");
      }
      return seconds;
    } finally {
      p.destroyForcibly();
    }
  }

  /** Bytes of successful blob GETs in the registry's log after offset {@code from}. */
  static long blobBytesServed(Path log, long from) throws IOException {
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

  /** The median of each position over {@code samples}. */
  static double[] median(List<double[]> samples) {
    double[] out = new double[samples.get(0).length];
    for (int i = 0; i < out.length; i++) {
      int k = i;
      double[] v = samples.stream().mapToDouble(s -> s[k]).sorted().toArray();
      out[i] = v[v.length / 2];
    }
    return out;
  }

  /** {@code rm -rf path}. */
  static void deleteTree(Path path) throws IOException, InterruptedException {
    new ProcessBuilder("rm", "-rf", path.toString()).inheritIO().start().waitFor();
  }
}
