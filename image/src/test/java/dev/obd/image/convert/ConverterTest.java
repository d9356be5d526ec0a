package dev.obd.image.convert;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.luben.zstd.Zstd;
import dev.obd.image.ByteSource;
import dev.obd.image.Exec;
import dev.obd.image.FileByteSource;
import dev.obd.image.HelloWorld;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.LayoutImage;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import dev.obd.image.sys.Posix;
import dev.obd.testsupport.Requirements;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Converts real multi-layer OCI images with every entry type, whiteouts and opaque directories,
 * then extracts the OverlayBD image and compares the mounted tree with the model of the original.
 * Needs root (loop devices, mounts).
 */
@org.junit.jupiter.api.Timeout(value = 5, unit = java.util.concurrent.TimeUnit.MINUTES)
class ConverterTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long VSIZE = 1L << 30;

  @TempDir Path tmp;

  @BeforeEach
  void requirements() {
    Requirements.requireRoot();
    Requirements.requireCommand("mkfs.ext4");
    Requirements.requireCommand("losetup");
    Requirements.requireCommand("mount");
    Requirements.requireCommand("e2fsck");
  }

  private static TarBuilder.Entry e(String name) {
    return new TarBuilder.Entry(name);
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** A v2 security.capability value (cap_setuid, cap_net_raw) with a byte above 0x7F. */
  private static final byte[] CAPS = {
    0x01, 0, 0, 0x02, (byte) 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
  };

  private static List<List<TarBuilder.Entry>> layers() {
    String deep = "deep/" + "d".repeat(60) + "/" + "e".repeat(60) + "/file-with-a-long-path";
    byte[] big = random(3 << 20, 1);
    byte[] big2 = big.clone();
    System.arraycopy(random(100_000, 2), 0, big2, 1 << 20, 100_000);
    List<TarBuilder.Entry> l1 =
        List.of(
            e("etc/").type('5').mode(0755),
            e("etc/hostname").data("box\n".getBytes()).xattr("user.note", "hello".getBytes()),
            e("usr/").type('5').mode(0755),
            e("usr/bin/").type('5').mode(0755),
            e("usr/bin/tool")
                .mode(04755)
                .data(random(200_000, 3))
                .xattr("security.capability", CAPS),
            e("usr/bin/link").type('2').mode(0777).link("tool"),
            e("usr/bin/hard").type('1').link("usr/bin/tool"),
            e("home/user/").type('5').mode(0700).owner(1000, 1000),
            e("home/user/notes").mode(0600).owner(1000, 1000).data("v1".getBytes()),
            e("dev/null").type('3').mode(0666).dev(1, 3),
            e("dev/loopx").type('4').mode(0660).owner(0, 6).dev(7, 200),
            e("run/fifo").type('6').mode(0600),
            e("opaque/a").data("a".getBytes()),
            e("opaque/sub/b").data("b".getBytes()),
            e("tmp/").type('5').mode(01777),
            e(deep).data("deep".getBytes()).owner(12345, 54321),
            e("data/big.bin").data(big),
            e("dir-xattr/")
                .type('5')
                .mode(0750)
                .xattr("trusted.obd", new byte[] {0, 1, 2, (byte) 0xFF}));
    List<TarBuilder.Entry> l2 =
        List.of(
            e("etc/.wh.hostname"),
            e("opaque/.wh..wh..opq"),
            e("opaque/new").data("new".getBytes()),
            e("home/user/notes").mode(0640).owner(1000, 1000).data("v2".getBytes()),
            e("usr/bin/.wh.hard"),
            e("var/log/app.log").data("log".getBytes()),
            e("usr/bin/link").type('2').mode(0777).link("/usr/bin/tool"),
            e("data/big.bin").data(big2),
            // whiteouts after entries of the same layer only hide what the layers below hold
            e("late/sub/new").data("new".getBytes()),
            e("late/.wh..wh..opq"),
            e("gone/again").data("again".getBytes()),
            e(".wh.gone"));
    List<TarBuilder.Entry> l3 =
        List.of(
            e("var/.wh.log"),
            e("var/log").data("now a file".getBytes()),
            e("etc/").type('5').mode(0700),
            e("etc/hostname").data("box2\n".getBytes()),
            e("bin2/x").mode(0755).data("x".getBytes()),
            e("bin2/y").type('1').link("bin2/x"),
            e("home/user/notes/").type('5').mode(0755).owner(1000, 1000),
            e("home/user/notes/n1").data("n1".getBytes()),
            e("dir-xattr/").type('5').mode(0755).xattr("user.added", "x".getBytes()));
    return List.of(l1, l2, l3);
  }

  /** Writes an OCI layout with the layers (gzip, zstd, plain) and returns its directory. */
  private Path sourceImage(List<List<TarBuilder.Entry>> layers) throws Exception {
    return sourceImage(layers, "v1");
  }

  /** Adds an image of the layers as {@code tag} to the layout {@link #sourceImage} writes. */
  private Path sourceImage(List<List<TarBuilder.Entry>> layers, String tag) throws Exception {
    Path dir = tmp.resolve("src");
    OciLayout layout = OciLayout.openOrCreate(dir);
    List<Descriptor> descs = new ArrayList<>();
    StringBuilder diffIds = new StringBuilder();
    for (int i = 0; i < layers.size(); i++) {
      TarBuilder t = new TarBuilder();
      layers.get(i).forEach(t::add);
      byte[] tar = t.finish();
      byte[] blob;
      String type;
      if (i % 3 == 0) {
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(gz)) {
          out.write(tar);
        }
        blob = gz.toByteArray();
        type = "application/vnd.oci.image.layer.v1.tar+gzip";
      } else if (i % 3 == 1) {
        blob = Zstd.compress(tar, 3);
        type = "application/vnd.oci.image.layer.v1.tar+zstd";
      } else {
        blob = tar;
        type = "application/vnd.oci.image.layer.v1.tar";
      }
      descs.add(layout.putBlob(type, blob));
      diffIds.append(i == 0 ? "" : ",").append('"').append(Digest.of(tar)).append('"');
    }
    String config =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"],\"Hostname\":\"x\"},"
            + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
            + diffIds
            + "]}}";
    Descriptor cfg = layout.putBlob(MediaTypes.OCI_CONFIG, config.getBytes());
    StringBuilder m = new StringBuilder();
    m.append("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_MANIFEST).append("\",");
    m.append("\"config\":").append(OciLayout.toJson(cfg)).append(",\"layers\":[");
    for (int i = 0; i < descs.size(); i++) {
      m.append(i == 0 ? "" : ",").append(OciLayout.toJson(descs.get(i)));
    }
    m.append("]}");
    layout.tag(tag, layout.putBlob(MediaTypes.OCI_MANIFEST, m.toString().getBytes()));
    return dir;
  }

  private Path extract(OciLayout layout, Converter.Result r, String name) throws Exception {
    List<ByteSource> sources = new ArrayList<>();
    for (Descriptor d : r.layers()) {
      sources.add(FileByteSource.open(layout.verifiedBlob(d)));
    }
    Path img = tmp.resolve(name);
    try (LayerStack s = LayerStack.open(sources, Optional.empty())) {
      SparseExport.export(s, img);
    }
    return img;
  }

  @Test
  void convertedMultiLayerImageHoldsTheTreeOfTheOriginal() throws Exception {
    List<List<TarBuilder.Entry>> layers = layers();
    Path src = sourceImage(layers);
    Path dst = tmp.resolve("dst");
    Converter.Result r =
        Converter.convert(
            src, "v1", dst, "v1-obd", new Converter.Options(VSIZE, null, "ext4", tmp), line -> {});
    assertThat(r.layers()).hasSize(3);
    OciLayout out = OciLayout.open(dst);
    JsonNode config = out.readJson(r.config());
    assertThat(config.path("config").has("Hostname")).isFalse(); // reduced to OCI fields
    assertThat(config.path("config").path("Cmd").get(0).asText()).isEqualTo("/bin/sh");
    Digest chain = null;
    for (int i = 0; i < 3; i++) {
      Descriptor d = r.layers().get(i);
      assertThat(config.path("rootfs").path("diff_ids").get(i).asText())
          .isEqualTo(d.digest().toString());
      assertThat(d.mediaType()).isEqualTo(MediaTypes.OCI_LAYER_TAR);
      assertThat(d.annotations())
          .containsEntry(MediaTypes.OBD_BLOB_DIGEST, d.digest().toString())
          .containsEntry(MediaTypes.OBD_BLOB_SIZE, Long.toString(d.size()))
          .containsEntry(MediaTypes.OBD_VERSION, "0.1.0");
      TarBuilder t = new TarBuilder();
      layers.get(i).forEach(t::add);
      Digest parent = chain;
      chain = Digest.chainId(chain, Digest.of(t.finish()));
      try (var layer =
          dev.obd.image.layer.LayerReader.open(FileByteSource.open(out.verifiedBlob(d)))) {
        assertThat(layer.trailer().uuid()).isEqualTo(LayerUuid.fromChainId(chain.toString()));
        assertThat(layer.trailer().parentUuid())
            .isEqualTo(parent == null ? LayerUuid.NIL : LayerUuid.fromChainId(parent.toString()));
        assertThat(layer.virtualSize()).isEqualTo(VSIZE);
      }
    }
    Path img = extract(out, r, "converted.img");
    Exec.run("e2fsck", "-fn", img.toString());

    FsModel model = new FsModel();
    layers.forEach(model::apply);
    mounted(img, "ext4", mnt -> compare(model, mnt));
  }

  /** What {@code check} finds of the image {@code img} mounted read-only as {@code fsType}. */
  private void mounted(Path img, String fsType, Check check) throws Exception {
    Path mnt = Files.createDirectories(tmp.resolve("check"));
    String dev = Exec.run("losetup", "--find", "--show", "--read-only", img.toString()).strip();
    try {
      Exec.run("mount", "-t", fsType, "-o", "ro", dev, mnt.toString());
      try {
        check.on(mnt);
      } finally {
        Exec.run("umount", mnt.toString());
      }
    } finally {
      Exec.run("losetup", "-d", dev);
    }
  }

  private interface Check {
    void on(Path root) throws Exception;
  }

  @Test
  void anErofsImageHoldsTheTreeOfTheOriginalAndLayersCarryOnFromReusedOnes() throws Exception {
    Requirements.requireCommand("fsck.erofs");
    List<List<TarBuilder.Entry>> layers = new ArrayList<>(layers());
    // a directory of many blocks (the kernel looks names up by binary search over them) and a
    // symlink too long to sit beside its inode
    List<TarBuilder.Entry> many = new ArrayList<>();
    for (int i = 0; i < 700; i++) {
      many.add(e("many/entry-" + "x".repeat(i % 40) + i).data(("f" + i).getBytes()));
    }
    many.add(e("many/long-link").type('2').mode(0777).link("t/".repeat(2040)));
    layers.add(many);
    Path src = sourceImage(layers);
    Converter.Options options = new Converter.Options(VSIZE, null, "erofs", tmp);
    Converter.Result r = Converter.convert(src, "v1", tmp.resolve("out"), "v1", options, l -> {});
    assertThat(r.layers()).hasSize(4);
    for (Descriptor d : r.layers()) {
      assertThat(d.annotations()).containsEntry(MediaTypes.OBD_FS_TYPE, "erofs");
    }
    Path img = extract(OciLayout.open(tmp.resolve("out")), r, "erofs.img");
    // erofs-utils' checker reads every inode, directory and file of the merged image
    Exec.run("fsck.erofs", "--extract", img.toString());

    FsModel model = new FsModel();
    layers.forEach(model::apply);
    mounted(
        img,
        "erofs",
        mnt -> {
          compare(model, mnt);
          // readdir callers skip entries of inode 0, as ls does the root's "." and ".."
          assertThat(Exec.run("ls", "-a", mnt.toString()).lines()).contains(".", "..");
          assertThat(Exec.run("ls", "-a", mnt.resolve("opaque").toString()).lines())
              .containsExactly(".", "..", "new");
        });

    // the image's upper layers again, on a disk rebuilt from the bottom one: the same bytes
    List<List<TarBuilder.Entry>> full = new ArrayList<>(layers);
    full.add(List.of(e("data/arch").data("arm64 only\n".getBytes()), e("etc/.wh.hostname")));
    sourceImage(layers.subList(0, 1), "base");
    sourceImage(full, "full");
    Map<String, LayerRecords.Made> kept = new HashMap<>();
    convertBothWays(src, options, records(kept), kept, 0, 1);
  }

  private static void compare(FsModel model, Path root) throws Exception {
    Map<String, Path> actual = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(root)) {
      walk.filter(p -> !p.equals(root)).forEach(p -> actual.put(root.relativize(p).toString(), p));
    }
    actual.keySet().removeIf(k -> k.equals("lost+found") || k.startsWith("lost+found/"));
    assertThat(actual.keySet()).containsExactlyElementsOf(model.tree.keySet());
    Map<FsModel.Node, Object> inodes = new HashMap<>();
    for (Map.Entry<String, FsModel.Node> en : model.tree.entrySet()) {
      String name = en.getKey();
      FsModel.Node n = en.getValue();
      Path p = actual.get(name);
      Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
      int mode = (Integer) a.get("mode");
      assertThat(a.get("uid")).as(name + " uid").isEqualTo(n.uid);
      assertThat(a.get("gid")).as(name + " gid").isEqualTo(n.gid);
      switch (n.type) {
        case '5':
          assertThat(Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).as(name).isTrue();
          assertThat(mode & 07777).as(name + " mode").isEqualTo(n.mode);
          break;
        case '2':
          assertThat(Files.isSymbolicLink(p)).as(name).isTrue();
          assertThat(Files.readSymbolicLink(p).toString()).as(name).isEqualTo(n.target);
          break;
        case '3':
        case '4':
          assertThat(mode & 0170000).as(name).isEqualTo(n.type == '3' ? 0020000 : 0060000);
          assertThat(mode & 07777).as(name + " mode").isEqualTo(n.mode);
          long rdev = (Long) a.get("rdev");
          assertThat(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffL)).isEqualTo(n.major);
          assertThat((rdev & 0xff) | ((rdev >> 12) & ~0xffL)).isEqualTo(n.minor);
          break;
        case '6':
          assertThat(mode & 0170000).as(name).isEqualTo(0010000);
          assertThat(mode & 07777).as(name + " mode").isEqualTo(n.mode);
          break;
        default:
          assertThat(Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).as(name).isTrue();
          assertThat(mode & 07777).as(name + " mode").isEqualTo(n.mode);
          assertThat(Files.readAllBytes(p)).as(name + " content").isEqualTo(n.data);
          Object ino = a.get("ino");
          Object seen = inodes.putIfAbsent(n, ino);
          if (seen != null) {
            assertThat(ino).as(name + " is a hard link").isEqualTo(seen);
          }
      }
      Map<String, byte[]> xattrs = Posix.xattrs(p);
      assertThat(xattrs.keySet())
          .as(name + " xattrs")
          .containsExactlyInAnyOrderElementsOf(n.xattrs.keySet());
      for (Map.Entry<String, byte[]> x : n.xattrs.entrySet()) {
        assertThat(xattrs.get(x.getKey())).as(name + " " + x.getKey()).isEqualTo(x.getValue());
      }
    }
    assertThat(inodes.values()).doesNotHaveDuplicates();
  }

  @Test
  void theSameLayersGiveTheSameBytesAlsoOnABusyMachine() throws Exception {
    // besides the tree above, a layer of many files of mixed sizes in many directories, where
    // ext4's block allocator has choices to make
    Random rnd = new Random(42);
    List<TarBuilder.Entry> many = new ArrayList<>();
    int[] sizes = {0, 100, 4096, 20_000, 70_000, 300_000};
    for (int d = 0; d < 20; d++) {
      many.add(e("many/d" + d + "/").type('5').mode(0755));
      for (int f = 0; f < 20; f++) {
        many.add(
            e("many/d" + d + "/f" + f).data(random(sizes[rnd.nextInt(sizes.length)], d * 100 + f)));
      }
    }
    List<List<TarBuilder.Entry>> layers = new ArrayList<>(layers());
    layers.add(many);
    layers.add(
        List.of(e("many/d3/.wh.f1"), e("many/.wh.d7"), e("many/d9/new").data(random(50_000, 9))));
    Path src = sourceImage(layers);
    Converter.Options options = new Converter.Options(VSIZE, null, "ext4", tmp);
    Converter.Result quiet =
        Converter.convert(src, "v1", tmp.resolve("quiet"), "v1", options, l -> {});

    Converter.Result busy;
    BusyMachine machine = BusyMachine.start(tmp.resolve("junk"));
    try {
      busy = Converter.convert(src, "v1", tmp.resolve("busy"), "v1", options, l -> {});
    } finally {
      machine.close();
    }
    assertThat(busy.layers()).isEqualTo(quiet.layers());
    assertThat(busy.config()).isEqualTo(quiet.config());
    assertThat(busy.manifest()).isEqualTo(quiet.manifest());

    // and what was made is still a sound file system holding the tree
    Path img = extract(OciLayout.open(tmp.resolve("busy")), busy, "busy.img");
    Exec.run("e2fsck", "-fn", img.toString());
    String stat = Exec.run("debugfs", "-R", "stat /many/d9/new", img.toString());
    assertThat(stat).contains("ctime: 0x00000000:00000000", "crtime: 0x00000000:00000000");
  }

  @Test
  void aLayerAppliedOnADiskRebuiltFromItsLowersIsTheLayerMadeOnTheDiskItself() throws Exception {
    // an image sharing its base with one converted before converts only its new layer, on a disk
    // rebuilt from the base's layers: that layer must be the one a whole conversion makes, or
    // the same image converted twice (alone, or beside another) would have two digests
    List<List<TarBuilder.Entry>> base = layers();
    List<List<TarBuilder.Entry>> full = new ArrayList<>(base);
    full.add(List.of(e("data/arch").data("arm64 only\n".getBytes())));
    sourceImage(base, "base");
    Path src = sourceImage(full, "full");
    Converter.Options options = new Converter.Options(VSIZE, null, "ext4", tmp);
    Map<String, LayerRecords.Made> kept = new HashMap<>();
    LayerRecords records = records(kept);
    // on a busy machine, where the kernel's timing (the clock ticking between removing a file and
    // creating the next, the flusher writing back part of a file) once decided blocks and inodes,
    // several rounds, as one in tens showed it
    BusyMachine machine = BusyMachine.start(tmp.resolve("junk"));
    try {
      for (int round = 0; round < 8; round++) {
        convertBothWays(src, options, records, kept, round, 3);
      }
    } finally {
      machine.close();
    }
  }

  /** Records of what conversions made, kept in {@code kept}. */
  private static LayerRecords records(Map<String, LayerRecords.Made> kept) {
    return new LayerRecords() {
      @Override
      public List<Made> find(Digest chainId, String opts, String near) {
        Made m = kept.get(chainId + " " + opts);
        return m == null ? List.of() : List.of(m);
      }

      @Override
      public void remember(Made made) {
        kept.put(made.chainId() + " " + made.options(), made);
      }

      @Override
      public void close() {}
    };
  }

  /** The full image converted beside its base (on a rebuilt disk) and on its own: the same. */
  private void convertBothWays(
      Path src,
      Converter.Options options,
      LayerRecords records,
      Map<String, LayerRecords.Made> kept,
      int round,
      int baseLayers)
      throws Exception {
    kept.clear();
    Path shared = tmp.resolve("shared-" + round);
    Path alone = tmp.resolve("alone-" + round);
    Converter.convert(
        LayoutImage.source(src, "base"),
        LayoutImage.target(shared, "base"),
        options,
        records,
        l -> {});
    Converter.Outcome onRebuilt =
        Converter.convert(
            LayoutImage.source(src, "full"),
            LayoutImage.target(shared, "full"),
            options,
            records,
            l -> {});
    assertThat(onRebuilt.stats().layersReused()).as("the base's layers").isEqualTo(baseLayers);
    Converter.Result whole = Converter.convert(src, "full", alone, "full", options, l -> {});
    assertThat(onRebuilt.images().get(0).layers()).as("round " + round).isEqualTo(whole.layers());
    assertThat(onRebuilt.images().get(0).manifest()).isEqualTo(whole.manifest());
    LayerApplier.deleteTree(shared);
    LayerApplier.deleteTree(alone);
  }

  /**
   * The machine busy as a node pulling images is: every core spinning, and dirty pages past the
   * kernel's background threshold, so that its flusher writes back whatever is dirty, the
   * conversion's disk included, while files are being written.
   */
  private static final class BusyMachine implements AutoCloseable {
    private final AtomicBoolean stop = new AtomicBoolean();
    private final List<Thread> spinners = new ArrayList<>();
    private final Path junk;
    private Process writer;

    private BusyMachine(Path junk) {
      this.junk = junk;
    }

    static BusyMachine start(Path junk) throws Exception {
      BusyMachine m = new BusyMachine(junk);
      try {
        for (int i = 0; i < Runtime.getRuntime().availableProcessors(); i++) {
          Thread t = new Thread(m::spin, "load");
          t.setDaemon(true);
          t.start();
          m.spinners.add(t);
        }
        m.writer =
            new ProcessBuilder(
                    "sh",
                    "-c",
                    "while :; do dd if=/dev/zero of="
                        + junk
                        + " bs=1M count=4000 2>/dev/null; done")
                .start();
        Thread.sleep(8000); // until the writer is past the background threshold
        return m;
      } catch (Exception | Error e) {
        m.close();
        throw e;
      }
    }

    private void spin() {
      long x = 0;
      while (!stop.get()) {
        x += System.nanoTime() % 7;
      }
      if (x == 42) {
        System.out.print("");
      }
    }

    @Override
    public void close() throws java.io.IOException {
      stop.set(true);
      try {
        for (Thread t : spinners) {
          t.join(30_000);
        }
        if (writer != null) {
          writer.descendants().forEach(ProcessHandle::destroyForcibly);
          writer.destroyForcibly().waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.IOException("interrupted while stopping the load", e);
      } finally {
        Files.deleteIfExists(junk);
      }
    }
  }

  @Test
  void aLayerCannotWriteOutsideTheImageThroughSymlinks() throws Exception {
    String marker = "obd-escape-" + System.nanoTime();
    List<TarBuilder.Entry> layer =
        List.of(
            e("escape").type('2').mode(0777).link("/"),
            e("up").type('2').mode(0777).link("../../../../../../tmp"),
            e("escape/tmp/" + marker).data("inside".getBytes()),
            e("up/" + marker + "-2").data("inside".getBytes()));
    Path src = sourceImage(List.of(layer));
    Converter.Result r =
        Converter.convert(
            src,
            "v1",
            tmp.resolve("dst"),
            "x",
            new Converter.Options(VSIZE, null, "ext4", tmp),
            l -> {});
    assertThat(Path.of("/tmp", marker)).doesNotExist();
    assertThat(Path.of("/tmp", marker + "-2")).doesNotExist();
    Path img = extract(OciLayout.open(tmp.resolve("dst")), r, "escape.img");
    String ls = Exec.run("debugfs", "-R", "ls -l /tmp", img.toString());
    assertThat(ls).contains(marker).contains(marker + "-2");
  }

  @Test
  void helloWorldConvertsToTheOfficialLayoutAndRunsTheSameBinary() throws Exception {
    Path dst = tmp.resolve("hello");
    Converter.Result r =
        Converter.convert(
            HelloWorld.layout(),
            "amd64",
            dst,
            "amd64-converted",
            new Converter.Options(Converter.Options.DEFAULT_VSIZE, null, "ext4", tmp),
            l -> {});
    OciLayout out = OciLayout.open(dst);
    OciLayout official = OciLayout.open(HelloWorld.layout());
    JsonNode ours = out.readJson(r.manifest());
    JsonNode theirs = official.readJson(official.resolve("amd64-converted"));
    assertThat(fieldNames(ours)).isEqualTo(fieldNames(theirs));
    assertThat(fieldNames(ours.path("layers").get(0)))
        .isEqualTo(fieldNames(theirs.path("layers").get(0)));
    assertThat(fieldNames(ours.path("layers").get(0).path("annotations")))
        .isEqualTo(fieldNames(theirs.path("layers").get(0).path("annotations")));
    JsonNode ourConfig = out.readJson(r.config());
    JsonNode theirConfig =
        official.readJson(OciLayout.descriptor(theirs.path("config"), "official manifest"));
    ((com.fasterxml.jackson.databind.node.ObjectNode) ourConfig).remove("rootfs");
    ((com.fasterxml.jackson.databind.node.ObjectNode) theirConfig).remove("rootfs");
    assertThat(JSON.writeValueAsString(ourConfig)).isEqualTo(JSON.writeValueAsString(theirConfig));
    try (var layer =
        dev.obd.image.layer.LayerReader.open(
            FileByteSource.open(out.verifiedBlob(r.layers().get(0))))) {
      assertThat(layer.trailer().uuid())
          .isEqualTo(LayerUuid.parse("01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"));
    }
    Path img = extract(out, r, "hello.img");
    Path hello = tmp.resolve("hello.bin");
    Exec.run("debugfs", "-R", "dump /hello " + hello, img.toString());
    assertThat(Files.readAllBytes(hello)).isEqualTo(HelloWorld.originalHello());
    String stat = Exec.run("debugfs", "-R", "stat /hello", img.toString());
    assertThat(stat).contains("Mode:  0775"); // -rwxrwxr-x in the original layer
  }

  private static List<String> fieldNames(JsonNode n) {
    List<String> names = new ArrayList<>();
    n.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
