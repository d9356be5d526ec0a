package dev.obd.image.layer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.FileByteSource;
import dev.obd.image.HelloWorld;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.tar.TarWrapper;
import dev.obd.image.zfile.Compression;
import dev.obd.image.zfile.ZFileHeader;
import dev.obd.image.zfile.ZFileReader;
import dev.obd.testsupport.Requirements;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HelloWorldLayerTest {

  @Test
  void officialBlobPeelsIntoPaxTarZFileAndCommittedLsmt() throws Exception {
    try (Layer layer = LayerReader.open(FileByteSource.open(HelloWorld.convertedLayer()))) {
      TarWrapper tar = layer.tar().orElseThrow();
      assertThat(tar.kind()).isEqualTo(TarWrapper.Kind.PAX);
      assertThat(tar.payloadOffset()).isEqualTo(1536);
      assertThat(tar.payloadSize()).isEqualTo(639_491);
      assertThat(tar.entryName()).isEqualTo("overlaybd.commit");

      ZFileReader z = layer.zfile().orElseThrow();
      ZFileHeader h = z.header();
      assertThat(h.flags()).isEqualTo(0x1B);
      assertThat(h.indexOffset()).isEqualTo(569_127);
      assertThat(h.indexSize()).isEqualTo(17_463);
      assertThat(h.originalFileSize()).isEqualTo(71_528_448);
      assertThat(h.indexCrc()).isEqualTo(0x6DBA55B0);
      assertThat(z.compression()).isEqualTo(Compression.LZ4);
      assertThat(z.blockSize()).isEqualTo(4096);

      assertThat(layer.lsmt().header().flags()).isEqualTo(0x07);
      assertThat(layer.trailer().flags()).isEqualTo(0x06);
      assertThat(layer.virtualSize()).isEqualTo(68_719_476_736L);
      assertThat(layer.trailer().indexOffset()).isEqualTo(71_512_064);
      assertThat(layer.lsmt().storedEntries()).isEqualTo(768);
      assertThat(layer.index().size()).isEqualTo(515);
      assertThat(layer.index().zeroedCount()).isZero();
      assertThat(layer.trailer().uuid())
          .isEqualTo(LayerUuid.parse("01BB4FCE-3EB1-B56B-05AD-F99504DAFD31"));
      assertThat(layer.trailer().parentUuid()).isEqualTo(LayerUuid.NIL);
      assertThat(layer.index().get(0).offset()).isZero();
      assertThat(layer.index().get(0).length()).isEqualTo(8448);
      assertThat(layer.index().get(0).moffset()).isEqualTo(8);
    }
  }

  @Test
  void everyBlockCrcOfTheOfficialBlobVerifies() throws Exception {
    try (Layer layer = LayerReader.open(FileByteSource.open(HelloWorld.convertedLayer()))) {
      assertThat(layer.zfile().orElseThrow().verifyAllBlocks()).isEqualTo(17_463);
    }
  }

  @Test
  void extractedDiskHoldsTheOriginalHelloBinary(@TempDir Path tmp) throws Exception {
    Requirements.requireCommand("debugfs");
    Path image = tmp.resolve("disk.img");
    try (LayerStack stack =
        LayerStack.open(
            List.of(FileByteSource.open(HelloWorld.convertedLayer())), Optional.empty())) {
      assertThat(stack.size()).isEqualTo(68_719_476_736L);
      SparseExport.export(stack, image);
    }
    assertThat(Files.size(image)).isEqualTo(68_719_476_736L);
    Path hello = tmp.resolve("hello");
    Process p =
        new ProcessBuilder("debugfs", "-R", "dump /hello " + hello, image.toString())
            .redirectErrorStream(true)
            .start();
    String log = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(log).isZero();
    byte[] extracted = Files.readAllBytes(hello);
    byte[] original = HelloWorld.originalHello();
    assertThat(extracted).hasSize(13_256).isEqualTo(original);
    assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(extracted)))
        .isEqualTo(HelloWorld.HELLO_SHA256);
  }

  @Test
  void unmappedSectorsOfTheOfficialDiskReadAsZeros() throws Exception {
    try (LayerStack stack =
        LayerStack.open(
            List.of(FileByteSource.open(HelloWorld.convertedLayer())), Optional.empty())) {
      ByteBuffer buf = ByteBuffer.allocate(4096);
      stack.read(stack.size() - 4096, buf);
      assertThat(buf.array()).containsOnly(0);
      ByteBuffer sb = ByteBuffer.allocate(1024);
      stack.read(1024, sb);
      // ext4 superblock magic 0xEF53 at offset 56 of the superblock
      assertThat(sb.get(56) & 0xFF).isEqualTo(0x53);
      assertThat(sb.get(57) & 0xFF).isEqualTo(0xEF);
    }
  }
}
