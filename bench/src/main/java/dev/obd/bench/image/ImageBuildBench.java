package dev.obd.bench.image;

import dev.obd.image.build.BlobFormat;
import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.convert.Converter;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import dev.obd.image.sys.Posix;
import dev.obd.image.zfile.Compression;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;

/**
 * Throughput of {@code commit} (a raw ext4 image to a tar(ZFile(LSMT)) blob) and {@code convert}
 * (an OCI image to an OverlayBD image), each next to a baseline run in the same process on the same
 * data: for commit, reading the image's allocated extents from the page cache; for convert,
 * unpacking the same layers with GNU tar into a directory. Run as root (convert mounts): {@code
 * bench/run dev.obd.bench.image.ImageBuildBench [rounds]}.
 */
public final class ImageBuildBench {
  private ImageBuildBench() {}

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    ImageFixture f = ImageFixture.get();
    Path v1 = f.dir.resolve("v1.img");
    long data = allocated(v1);
    System.out.printf(
        "image v1: %d MiB allocated in a %d MiB ext4 image%n", data >> 20, Files.size(v1) >> 20);
    for (int r = 0; r < rounds; r++) {
      double read = mbps(data, time(() -> readExtents(v1)));
      for (Compression c : Compression.values()) {
        Path out = f.dir.resolve("bench-commit.blob");
        long[] size = new long[1];
        double t =
            time(
                () -> {
                  BlobInfo b =
                      LayerCommitter.commit(
                          v1,
                          Optional.empty(),
                          out,
                          LayerCommitter.Options.of(LayerUuid.random())
                              .withFormat(BlobFormat.official(c)));
                  size[0] = b.size();
                });
        Files.deleteIfExists(out);
        System.out.printf(
            "round %d commit %s: %.0f MB/s of allocated data (blob %d MiB); baseline read of the same extents: %.0f MB/s (ratio %.0f%%)%n",
            r + 1, c, mbps(data, t), size[0] >> 20, read, 100 * mbps(data, t) / read);
      }
    }
    if (!"root".equals(System.getProperty("user.name"))) {
      System.out.println("convert: skipped (needs root)");
      return;
    }
    Path layout = f.dir.resolve("oci-src");
    long tarBytes = sourceImage(layout);
    for (int r = 0; r < rounds; r++) {
      Path dst = f.dir.resolve("oci-dst");
      double t =
          time(
              () ->
                  Converter.convert(
                      layout,
                      "v1",
                      dst,
                      "v1-obd",
                      new Converter.Options(
                          Converter.Options.DEFAULT_VSIZE, Compression.LZ4, "ext4", f.dir),
                      line -> {}));
      deleteTree(dst);
      Path unpack = f.dir.resolve("unpacked");
      double tu = time(() -> untar(layout, unpack));
      deleteTree(unpack);
      System.out.printf(
          "round %d convert (2 layers, %d MiB of tar, 64 GiB disk): %.1f s = %.0f MB/s; baseline tar -x of the same layers: %.1f s = %.0f MB/s (ratio %.0f%%)%n",
          r + 1, tarBytes >> 20, t, mbps(tarBytes, t), tu, mbps(tarBytes, tu), 100 * tu / t);
    }
  }

  interface Step {
    void run() throws Exception;
  }

  static double time(Step s) throws Exception {
    long t = System.nanoTime();
    s.run();
    return (System.nanoTime() - t) / 1e9;
  }

  static double mbps(long bytes, double seconds) {
    return bytes / 1e6 / seconds;
  }

  static long allocated(Path img) throws IOException {
    long n = 0;
    for (Posix.Extent e : Posix.dataExtents(img, Files.size(img))) {
      n += e.end() - e.start();
    }
    return n;
  }

  static void readExtents(Path img) throws IOException {
    ByteBuffer b = ByteBuffer.allocateDirect(1 << 20);
    try (FileChannel ch = FileChannel.open(img, StandardOpenOption.READ)) {
      for (Posix.Extent e : Posix.dataExtents(img, ch.size())) {
        for (long p = e.start(); p < e.end(); ) {
          b.clear().limit((int) Math.min(b.capacity(), e.end() - p));
          p += ch.read(b, p);
        }
      }
    }
  }

  /** Two gzip layers: this JDK, then 400 shared libraries. Returns the uncompressed tar bytes. */
  static long sourceImage(Path dir) throws Exception {
    deleteTree(dir);
    OciLayout layout = OciLayout.openOrCreate(dir);
    List<Descriptor> layers = new ArrayList<>();
    List<String> diffIds = new ArrayList<>();
    long total = 0;
    Path[] roots = {Path.of(System.getProperty("java.home")), Path.of("/usr/lib/x86_64-linux-gnu")};
    String[] prefixes = {"opt/jdk/", "usr/lib/"};
    for (int i = 0; i < 2; i++) {
      Path tar = dir.resolve("layer" + i + ".tar");
      writeTar(roots[i], prefixes[i], tar, i == 1 ? 400 : Integer.MAX_VALUE);
      total += Files.size(tar);
      diffIds.add(Digest.of(tar).toString());
      Path gz = dir.resolve("layer" + i + ".tar.gz");
      try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz), 1 << 16)) {
        Files.copy(tar, out);
      }
      Files.delete(tar);
      Digest d = Digest.of(gz);
      long size = Files.size(gz);
      layout.moveIn(gz, d);
      layers.add(new Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", d, size));
    }
    String config =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
            + String.join("\",\"", diffIds)
            + "\"]}}";
    Descriptor cfg = layout.putBlob(MediaTypes.OCI_CONFIG, config.getBytes());
    String manifest =
        "{\"schemaVersion\":2,\"mediaType\":\""
            + MediaTypes.OCI_MANIFEST
            + "\",\"config\":"
            + OciLayout.toJson(cfg)
            + ",\"layers\":["
            + OciLayout.toJson(layers.get(0))
            + ","
            + OciLayout.toJson(layers.get(1))
            + "]}";
    layout.tag("v1", layout.putBlob(MediaTypes.OCI_MANIFEST, manifest.getBytes()));
    return total;
  }

  static void writeTar(Path root, String prefix, Path tar, int maxFiles) throws IOException {
    try (TarArchiveOutputStream out =
            new TarArchiveOutputStream(
                new BufferedOutputStream(Files.newOutputStream(tar), 1 << 16));
        Stream<Path> walk = Files.walk(root)) {
      out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
      int[] files = {0};
      for (Path p : (Iterable<Path>) walk.sorted()::iterator) {
        String name = prefix + root.relativize(p);
        if (Files.isSymbolicLink(p)) {
          TarArchiveEntry e = new TarArchiveEntry(name, TarArchiveEntry.LF_SYMLINK);
          e.setLinkName(Files.readSymbolicLink(p).toString());
          out.putArchiveEntry(e);
          out.closeArchiveEntry();
        } else if (Files.isDirectory(p)) {
          out.putArchiveEntry(new TarArchiveEntry(name + "/"));
          out.closeArchiveEntry();
        } else if (Files.isRegularFile(p) && files[0]++ < maxFiles) {
          TarArchiveEntry e = new TarArchiveEntry(p.toFile(), name);
          out.putArchiveEntry(e);
          Files.copy(p, out);
          out.closeArchiveEntry();
        }
      }
    }
  }

  static void untar(Path layout, Path target) throws Exception {
    Files.createDirectories(target);
    try (Stream<Path> blobs = Files.list(layout.resolve("blobs/sha256"))) {
      for (Path b : (Iterable<Path>) blobs::iterator) {
        if (Files.size(b) > 100_000) {
          ImageFixture.run("tar", "-xzf", b.toString(), "-C", target.toString());
        }
      }
    }
  }

  static void deleteTree(Path p) throws Exception {
    if (Files.exists(p)) {
      ImageFixture.run("rm", "-rf", "--one-file-system", p.toString());
    }
  }
}
