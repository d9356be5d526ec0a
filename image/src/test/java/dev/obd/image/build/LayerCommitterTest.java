package dev.obd.image.build;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.Exec;
import dev.obd.image.FileByteSource;
import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerReader;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.zfile.Compression;
import dev.obd.testsupport.Ext4Images;
import dev.obd.testsupport.Requirements;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LayerCommitterTest {
  @TempDir Path tmp;

  /** An ext4 image of 64 MiB built from a directory of random files, without mounting. */
  private Path ext4Image(String name, long seed) throws Exception {
    Requirements.requireCommand("mkfs.ext4");
    Path src = Files.createDirectories(tmp.resolve(name + "-src/sub"));
    Random r = new Random(seed);
    for (int i = 0; i < 20; i++) {
      byte[] b = new byte[r.nextInt(200_000)];
      r.nextBytes(b);
      if (i % 3 == 0) {
        java.util.Arrays.fill(b, 0, b.length / 2, (byte) 'a'); // compressible half
      }
      Files.write((i % 2 == 0 ? src : src.getParent()).resolve("f" + i), b);
    }
    Path img = tmp.resolve(name + ".img");
    Ext4Images.fromDirectory(src.getParent(), img, 64L << 20);
    return img;
  }

  private static LayerStack stack(Path... blobs) throws Exception {
    List<dev.obd.image.ByteSource> sources = new ArrayList<>();
    for (Path b : blobs) {
      sources.add(FileByteSource.open(b));
    }
    return LayerStack.open(sources, Optional.empty());
  }

  @ParameterizedTest
  @EnumSource(Compression.class)
  void bottomLayerReadsBackIdenticallyAndPassesE2fsck(Compression c) throws Exception {
    Requirements.requireCommand("e2fsck");
    Path img = ext4Image("base", 1);
    LayerUuid uuid = LayerUuid.random();
    BlobInfo info =
        LayerCommitter.commit(
            img,
            Optional.empty(),
            tmp.resolve("layer.blob"),
            LayerCommitter.Options.of(uuid).withFormat(BlobFormat.official(c)));
    assertThat(info.digest()).isEqualTo(LayerBlobWriter.sha256(info.path()));
    assertThat(info.size()).isEqualTo(Files.size(info.path())).isLessThan(Files.size(img) / 2);

    try (Layer layer = LayerReader.open(FileByteSource.open(info.path()))) {
      assertThat(layer.tar()).isPresent();
      assertThat(layer.zfile().orElseThrow().compression()).isEqualTo(c);
      assertThat(layer.zfile().orElseThrow().header().flags()).isEqualTo(0x1B);
      assertThat(layer.trailer().uuid()).isEqualTo(uuid);
      assertThat(layer.trailer().parentUuid()).isEqualTo(LayerUuid.NIL);
      assertThat(layer.lsmt().storedEntries() % 256).isZero();
      assertThat(layer.zfile().orElseThrow().verifyAllBlocks()).isPositive();
    }
    Path out = tmp.resolve("out.img");
    try (LayerStack s = stack(info.path())) {
      assertThat(s.size()).isEqualTo(Files.size(img));
      SparseExport.export(s, out);
    }
    assertThat(Files.mismatch(img, out)).isEqualTo(-1);
    Exec.run("e2fsck", "-fn", out.toString());
  }

  @Test
  void diffLayerStoresChangesAndZeroedRangesAndStacksToTheModifiedImage() throws Exception {
    Requirements.requireCommand("debugfs");
    Path base = ext4Image("base", 2);
    BlobInfo l1 =
        LayerCommitter.commit(
            base,
            Optional.empty(),
            tmp.resolve("l1"),
            LayerCommitter.Options.of(LayerUuid.random()));
    Path changed = tmp.resolve("changed.img");
    Files.copy(base, changed);
    Path newFile = tmp.resolve("new.bin");
    Files.write(newFile, new byte[] {1, 2, 3, 4, 5});
    Exec.run("debugfs", "-w", "-R", "write " + newFile + " /added", changed.toString());
    Exec.run("debugfs", "-w", "-R", "rm /sub/f0", changed.toString());
    // zero 1 MiB that holds data in the base image: must become a zeroed range, not a hole
    long zeroAt = firstDataBlockAfter(base, 1 << 20);
    try (RandomAccessFile f = new RandomAccessFile(changed.toFile(), "rw")) {
      f.seek(zeroAt);
      f.write(new byte[1 << 20]);
    }
    BlobInfo l2;
    try (LayerStack lower = stack(l1.path())) {
      l2 =
          LayerCommitter.commit(
              changed,
              Optional.of(lower),
              tmp.resolve("l2"),
              LayerCommitter.Options.of(LayerUuid.random()));
    }
    try (Layer top = LayerReader.open(FileByteSource.open(l2.path()));
        Layer bottom = LayerReader.open(FileByteSource.open(l1.path()))) {
      assertThat(top.index().zeroedCount()).isPositive();
      assertThat(top.index().dataSectors()).isLessThan(bottom.index().dataSectors() / 4);
      assertThat(top.trailer().parentUuid()).isEqualTo(bottom.trailer().uuid());
    }
    Path out = tmp.resolve("out.img");
    try (LayerStack s = stack(l1.path(), l2.path())) {
      SparseExport.export(s, out);
    }
    assertThat(Files.mismatch(changed, out)).isEqualTo(-1);
  }

  private static long firstDataBlockAfter(Path img, long from) throws Exception {
    try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
      byte[] b = new byte[4096];
      for (long pos = from; pos + (1 << 20) <= f.length(); pos += 4096) {
        f.seek(pos);
        f.readFully(b);
        for (byte x : b) {
          if (x != 0) {
            return pos;
          }
        }
      }
    }
    throw new AssertionError("no data in " + img);
  }

  @Test
  void writesARawLsmtFileWhenAskedTo() throws Exception {
    Path img = tmp.resolve("raw.img");
    byte[] content = new byte[1 << 20];
    new Random(3).nextBytes(content);
    java.util.Arrays.fill(content, 4096, 65536, (byte) 0);
    Files.write(img, content);
    BlobInfo info =
        LayerCommitter.commit(
            img,
            Optional.empty(),
            tmp.resolve("raw.commit"),
            LayerCommitter.Options.of(LayerUuid.NIL).withFormat(BlobFormat.rawLsmt()));
    try (LayerStack s = stack(info.path())) {
      assertThat(s.lowers().get(0).tar()).isEmpty();
      assertThat(s.lowers().get(0).zfile()).isEmpty();
      assertThat(s.lowerIndex().size()).isEqualTo(2); // the zero gap is a hole
      ByteBuffer all = ByteBuffer.allocate(content.length);
      s.read(0, all);
      assertThat(all.array()).isEqualTo(content);
    }
  }
}
