package dev.obd.bench.image;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.MappedFileByteSource;
import dev.obd.image.build.BlobFormat;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.SegmentIndex;
import dev.obd.image.zfile.Compression;
import dev.obd.testsupport.Ext4Images;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Real disk images for the image benchmarks, built once into {@code obd.bench.dir} (default {@code
 * /tmp/obd-bench-image}) and reused: a 1 GiB ext4 holding this machine's JDK ({@code v1}), the same
 * with shared libraries added ({@code v2}), and with some files removed and rewritten ({@code v3});
 * and for each compression the three-layer OverlayBD stack whose top reads like {@code v3}. The
 * baseline of every read benchmark is {@code v3.img} read from the same disk.
 */
final class ImageFixture {
  static final long SIZE = 1L << 30;

  final Path dir;

  private ImageFixture(Path dir) {
    this.dir = dir;
  }

  static synchronized ImageFixture get() throws Exception {
    Path dir = Path.of(System.getProperty("obd.bench.dir", "/tmp/obd-bench-image"));
    ImageFixture f = new ImageFixture(dir);
    if (!Files.exists(dir.resolve("ready"))) {
      f.build();
    }
    return f;
  }

  Path raw() {
    return dir.resolve("v3.img");
  }

  List<Path> layers(Compression c) {
    String n = c.name().toLowerCase();
    return List.of(dir.resolve(n + "-1"), dir.resolve(n + "-2"), dir.resolve(n + "-3"));
  }

  LayerStack open(Compression c, boolean mapped) throws IOException {
    List<ByteSource> s = new ArrayList<>();
    for (Path p : layers(c)) {
      s.add(mapped ? MappedFileByteSource.open(p) : FileByteSource.open(p));
    }
    return LayerStack.open(s, Optional.empty());
  }

  /** Byte offsets of the disk's stored data ranges as [start, end) pairs. */
  static List<long[]> dataRanges(LayerStack s) {
    SegmentIndex m = s.mapping();
    List<long[]> out = new ArrayList<>();
    for (int i = 0; i < m.size(); i++) {
      if (m.zeroed(i)) {
        continue;
      }
      long a = m.offset(i) * 512;
      long b = m.end(i) * 512;
      if (!out.isEmpty() && out.get(out.size() - 1)[1] == a) {
        out.get(out.size() - 1)[1] = b;
      } else {
        out.add(new long[] {a, b});
      }
    }
    return out;
  }

  private void build() throws Exception {
    Files.createDirectories(dir);
    Path jdk = Path.of(System.getProperty("java.home"));
    Path v1 = dir.resolve("v1.img");
    Ext4Images.fromDirectory(jdk, v1, SIZE);
    Path v2 = dir.resolve("v2.img");
    Files.copy(v1, v2, StandardCopyOption.REPLACE_EXISTING);
    List<Path> libs;
    try (Stream<Path> s = Files.list(Path.of("/usr/lib/x86_64-linux-gnu"))) {
      libs =
          s.filter(p -> Files.isRegularFile(p) && !Files.isSymbolicLink(p))
              .sorted(Comparator.comparing(Path::toString))
              .limit(400)
              .toList();
    }
    StringBuilder script = new StringBuilder("mkdir /libs\n");
    for (Path l : libs) {
      script.append("write ").append(l).append(" /libs/").append(l.getFileName()).append('\n');
    }
    debugfs(v2, script.toString());
    Path v3 = dir.resolve("v3.img");
    Files.copy(v2, v3, StandardCopyOption.REPLACE_EXISTING);
    StringBuilder s3 = new StringBuilder();
    for (int i = 0; i < libs.size(); i += 3) {
      s3.append("rm /libs/").append(libs.get(i).getFileName()).append('\n');
    }
    s3.append("mkdir /libs2\n");
    for (int i = 0; i < libs.size(); i += 5) {
      s3.append("write ")
          .append(libs.get(i))
          .append(" /libs2/")
          .append(libs.get(i).getFileName())
          .append('\n');
    }
    debugfs(v3, s3.toString());
    for (Compression c : Compression.values()) {
      List<Path> ls = layers(c);
      commit(v1, List.of(), ls.get(0), c);
      commit(v2, ls.subList(0, 1), ls.get(1), c);
      commit(v3, ls.subList(0, 2), ls.get(2), c);
    }
    Files.writeString(dir.resolve("ready"), "ok\n");
  }

  static void commit(Path image, List<Path> lowers, Path out, Compression c) throws IOException {
    LayerCommitter.Options o =
        LayerCommitter.Options.of(LayerUuid.random()).withFormat(BlobFormat.official(c));
    if (lowers.isEmpty()) {
      LayerCommitter.commit(image, Optional.empty(), out, o);
      return;
    }
    List<ByteSource> s = new ArrayList<>();
    for (Path p : lowers) {
      s.add(FileByteSource.open(p));
    }
    try (LayerStack lower = LayerStack.open(s, Optional.empty())) {
      LayerCommitter.commit(image, Optional.of(lower), out, o);
    }
  }

  private void debugfs(Path image, String script) throws Exception {
    Path f = dir.resolve("script.txt");
    Files.writeString(f, script);
    run("debugfs", "-w", "-f", f.toString(), image.toString());
  }

  static void run(String... argv) throws Exception {
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", argv) + " failed: " + new String(out));
    }
  }
}
