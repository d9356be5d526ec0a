package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.stream.Stream;

/** Helpers shared by the daemon tests: configs, digests, and a last-resort cleanup of devices. */
final class Fixture {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String HELLO_SHA256 =
      "d3f7d10e296e5c626ea78539cb38cd8dffd043bea3627da35ce3b20c0ac68014";
  static final String HELLO_BLOB =
      "sha256:022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d";
  static final long HELLO_BLOB_SIZE = 642_560;

  private Fixture() {}

  /** A daemon config with everything under {@code dir}; {@code extra} overrides keys. */
  static Path daemonConfig(Path dir, Map<String, Object> extra) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("socket", dir.resolve("run/backstore.sock").toString());
    m.put("stateDir", dir.resolve("state").toString());
    m.put("runDir", dir.resolve("run").toString());
    m.put("attachMode", "fuse");
    m.put("logLevel", "info");
    m.put("credentialFilePath", dir.resolve("cred.json").toString());
    m.put("dockerConfigPath", dir.resolve("docker-config.json").toString());
    m.put(
        "cacheConfig",
        Map.of("cacheDir", dir.resolve("cache").toString(), "cacheSizeGB", 1, "refillSize", 65536));
    m.putAll(extra);
    Files.createDirectories(dir);
    Path f = dir.resolve("backstore.json");
    Files.write(f, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(m));
    return f;
  }

  static BackstoreConfig readConfig(Path f) throws IOException {
    return BackstoreConfig.read(f);
  }

  /** Writes an image config.v1.json. */
  static Path imageConfig(Path file, Map<String, Object> config) throws IOException {
    Files.createDirectories(file.getParent());
    Files.write(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
    return file;
  }

  /**
   * Mounts the ext4 on {@code device} read-only at {@code mnt}, asserts that each of {@code files}
   * reads exactly as in {@code source} (the tree the image was made from), and unmounts.
   */
  static void assertFilesReadAsSource(
      Mounts mounts, String device, Path mnt, Path source, String... files) throws Exception {
    Files.createDirectories(mnt);
    mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", device);
    for (String f : files) {
      assertThat(sha256(mnt.resolve(f))).as(f).isEqualTo(sha256(source.resolve(f)));
    }
    mounts.unmount(mnt);
  }

  static String sha256(Path file) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (var in = Files.newInputStream(file)) {
      byte[] buf = new byte[65536];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** sha256 of the first {@code length} bytes of {@code file} (e.g. a block device). */
  static String sha256Prefix(Path file, long length) throws Exception {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    try (var in = Files.newInputStream(file)) {
      byte[] buf = new byte[65536];
      long left = length;
      for (int n; left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0; ) {
        md.update(buf, 0, n);
        left -= n;
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static BackstoreClient client(Path daemonDir) {
    return new BackstoreClient(daemonDir.resolve("run/backstore.sock"));
  }

  /**
   * Last-resort cleanup when a test failed halfway: detaches loop devices backed by files under
   * {@code runDir}, unmounts nbdfuse mounts there and kills their nbdfuse processes.
   */
  static void forceCleanup(Path runDir) {
    String run = runDir.toAbsolutePath().toString();
    try {
      String loops = Mounts.run(List.of("losetup", "-a"), null);
      for (String line : loops.split("\n")) {
        if (line.contains(run)) {
          String dev = line.substring(0, line.indexOf(':'));
          tryRun(List.of("umount", "-l", dev));
          tryRun(List.of("losetup", "-d", dev));
        }
      }
    } catch (RuntimeException e) {
      // losetup missing: nothing was attached
    }
    List<String> mounts = new ArrayList<>();
    try (Stream<String> lines =
        Files.lines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      lines.map(l -> l.split(" ")[4]).filter(p -> p.startsWith(run)).forEach(mounts::add);
    } catch (IOException e) {
      return;
    }
    for (String m : mounts) {
      tryRun(List.of("umount", "-l", m));
    }
    ProcessHandle.allProcesses()
        .filter(
            p ->
                p.info()
                    .commandLine()
                    .map(c -> c.contains("nbdfuse") && c.contains(run))
                    .orElse(false))
        .forEach(ProcessHandle::destroyForcibly);
  }

  static void tryRun(List<String> cmd) {
    try {
      Mounts.run(cmd, null);
    } catch (RuntimeException e) {
      // best effort
    }
  }

  /**
   * A log handler that adds each record's message, and its exception, to {@code lines}
   * (synchronized on {@code lines}): for tests that check what never appears in a log line.
   */
  static Handler logCapture(List<String> lines) {
    return new Handler() {
      @Override
      public void publish(LogRecord r) {
        synchronized (lines) {
          lines.add(r.getMessage() + (r.getThrown() != null ? " " + r.getThrown() : ""));
        }
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    };
  }

  /** The Basic Authorization header value of {@code user} and {@code password}. */
  static String basicAuth(String user, String password) {
    return "Basic "
        + java.util.Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }
}
