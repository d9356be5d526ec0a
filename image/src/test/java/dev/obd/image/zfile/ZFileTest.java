package dev.obd.image.zfile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.LayerFormatException;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import net.jpountz.lz4.LZ4Factory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ZFileTest {
  @TempDir Path tmp;

  static byte[] content(long seed, int size) {
    Random r = new Random(seed);
    byte[] b = new byte[size];
    for (int i = 0; i < size; i += 1000) {
      int len = Math.min(1000, size - i);
      switch (r.nextInt(3)) {
        case 0:
          for (int k = 0; k < len; k++) {
            b[i + k] = (byte) r.nextInt();
          }
          break;
        case 1:
          Arrays.fill(b, i, i + len, (byte) r.nextInt(4));
          break;
        default:
          break; // zeros
      }
    }
    return b;
  }

  byte[] compress(byte[] data, ZFileOptions options) throws Exception {
    Path f = tmp.resolve("z" + System.nanoTime());
    try (FileChannel ch =
        FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ZFileWriter w = ZFileWriter.create(ch, 0, options);
      ByteBuffer src = ByteBuffer.wrap(data);
      Random r = new Random(data.length);
      while (src.hasRemaining()) { // uneven write sizes
        ByteBuffer part = src.duplicate();
        part.limit(Math.min(src.limit(), src.position() + 1 + r.nextInt(9000)));
        src.position(part.limit());
        w.write(part);
      }
      assertThat(w.finish()).isEqualTo(Files.size(f));
    }
    return Files.readAllBytes(f);
  }

  static Stream<Arguments> variants() {
    return Stream.of(
        Arguments.of(ZFileOptions.defaults()),
        Arguments.of(ZFileOptions.of(Compression.ZSTD)),
        Arguments.of(new ZFileOptions(Compression.LZ4, 65536, true, true)),
        Arguments.of(new ZFileOptions(Compression.ZSTD, 16384, true, false)),
        Arguments.of(new ZFileOptions(Compression.LZ4, 4096, false, false)),
        Arguments.of(new ZFileOptions(Compression.LZ4, 8192, false, true)));
  }

  @ParameterizedTest
  @MethodSource("variants")
  void randomReadsReturnTheOriginalBytes(ZFileOptions options) throws Exception {
    byte[] data = content(7, 1_234_567);
    byte[] z = compress(data, options);
    ZFileReader r = ZFileReader.open(new ByteArraySource(z, "z"));
    assertThat(r.size()).isEqualTo(data.length);
    assertThat(r.compression()).isEqualTo(options.compression());
    assertThat(r.header().isHeaderOverwrite()).isEqualTo(options.rewriteHeader());
    assertThat(r.header().flags()).isEqualTo(options.rewriteHeader() ? 0x1B : 0x13);
    assertThat(r.effectiveHeader().verify()).isEqualTo(options.blockCrc());
    Random rnd = new Random(1);
    for (int i = 0; i < 300; i++) {
      int off = rnd.nextInt(data.length);
      int len = rnd.nextInt(Math.min(200_000, data.length - off) + 1);
      ByteBuffer dst = i % 2 == 0 ? ByteBuffer.allocate(len) : ByteBuffer.allocateDirect(len);
      r.readFully(off, dst);
      dst.flip();
      byte[] got = new byte[len];
      dst.get(got);
      assertThat(got).isEqualTo(Arrays.copyOfRange(data, off, off + len));
    }
    ByteBuffer all = ByteBuffer.allocate(data.length);
    r.readFully(0, all);
    assertThat(all.array()).isEqualTo(data);
    assertThat(r.verifyAllBlocks())
        .isEqualTo((data.length + options.blockSize() - 1) / options.blockSize());
  }

  @Test
  void readsPastTheEndFailWithEof() throws Exception {
    ZFileReader r =
        ZFileReader.open(
            new ByteArraySource(compress(content(1, 10_000), ZFileOptions.defaults()), "z"));
    assertThatThrownBy(() -> r.readFully(9_000, ByteBuffer.allocate(2_000)))
        .isInstanceOf(EOFException.class);
  }

  @Test
  void undefinedFlagBitsAreIgnored() throws Exception {
    byte[] data = content(3, 100_000);
    byte[] z = compress(data, ZFileOptions.defaults());
    ByteBuffer b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(32, b.getLong(32) | 0xDEAD_BEEF_0000_00C0L); // garbage above bit 5
    b.putInt(28, ZFileHeader.computeDigest(Arrays.copyOf(z, 512)));
    ZFileReader r = ZFileReader.open(new ByteArraySource(z, "z"));
    assertThat(r.header().definedFlags()).isEqualTo(0x1B);
    ByteBuffer all = ByteBuffer.allocate(data.length);
    r.readFully(0, all);
    assertThat(all.array()).isEqualTo(data);
  }

  @Test
  void aCorruptBlockFailsNamingTheBlockAndOffset() throws Exception {
    byte[] z = compress(content(4, 100_000), ZFileOptions.defaults());
    ZFileReader clean = ZFileReader.open(new ByteArraySource(z, "z"));
    long at = clean.blockOffset(5);
    z[(int) at + 3] ^= 0x10;
    ZFileReader r = ZFileReader.open(new ByteArraySource(z, "layer-x"));
    assertThatThrownBy(() -> r.readFully(5 * 4096 + 100, ByteBuffer.allocate(10)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("block 5")
        .hasMessageContaining("layer-x")
        .hasMessageContaining("offset " + at)
        .hasMessageContaining("CRC mismatch");
    // neighbouring blocks still read
    r.readFully(0, ByteBuffer.allocate(4096));
  }

  @Test
  void headerJumpTableAndFieldDamageIsRejectedAtOpen() throws Exception {
    byte[] good = compress(content(5, 50_000), ZFileOptions.defaults());
    ZFileReader ok = ZFileReader.open(new ByteArraySource(good, "z"));
    long table = ok.effectiveHeader().indexOffset();

    byte[] z = good.clone();
    z[100] = 1; // inside the digest-covered header block
    assertThatThrownBy(() -> ZFileReader.open(new ByteArraySource(z, "z")))
        .hasMessageContaining("header digest mismatch");

    byte[] t = good.clone();
    t[(int) table] ^= 1;
    assertThatThrownBy(() -> ZFileReader.open(new ByteArraySource(t, "z")))
        .hasMessageContaining("jump table")
        .hasMessageContaining("CRC");

    assertThatThrownBy(() -> ZFileReader.open(new ByteArraySource(withField(good, 76, 1, 9), "z")))
        .hasMessageContaining("algorithm 9");
    assertThatThrownBy(
            () -> ZFileReader.open(new ByteArraySource(withField(good, 72, 4, 1 << 17), "z")))
        .hasMessageContaining("block size");
    assertThatThrownBy(
            () ->
                ZFileReader.open(new ByteArraySource(withField(good, 48, 8, 1_000_000_001L), "z")))
        .hasMessageContaining("exceeds the limit");
    assertThatThrownBy(
            () ->
                ZFileReader.open(
                    new ByteArraySource(withField(good, 56, 8, Long.MAX_VALUE / 2), "z")))
        .isInstanceOf(LayerFormatException.class);
    assertThatThrownBy(
            () -> ZFileReader.open(new ByteArraySource(withField(good, 40, 8, 100), "z")))
        .isInstanceOf(LayerFormatException.class);
    assertThatThrownBy(() -> ZFileReader.open(new ByteArraySource(Arrays.copyOf(good, 700), "z")))
        .isInstanceOf(java.io.IOException.class);
  }

  /** good with one header field replaced and the digest recomputed, so only the field is bad. */
  private static byte[] withField(byte[] good, int off, int len, long value) {
    byte[] z = good.clone();
    ByteBuffer b = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
    switch (len) {
      case 1:
        b.put(off, (byte) value);
        break;
      case 4:
        b.putInt(off, (int) value);
        break;
      default:
        b.putLong(off, value);
    }
    b.putInt(28, ZFileHeader.computeDigest(Arrays.copyOf(z, 512)));
    return z;
  }

  @Test
  void aBlockThatWouldExpandBeyondTheBlockSizeIsRejectedNotAllocated() throws Exception {
    // a 64 KiB run of zeros compressed into one LZ4 block, declared as a 4 KiB block
    byte[] bomb = LZ4Factory.fastestInstance().fastCompressor().compress(new byte[65536]);
    byte[] good = compress(new byte[4096], new ZFileOptions(Compression.LZ4, 4096, false, true));
    ZFileReader ok = ZFileReader.open(new ByteArraySource(good, "z"));
    int stored = ok.storedLength(0);
    // rebuild the file: header, bomb block, table, trailer
    ByteBuffer out =
        ByteBuffer.allocate(512 + bomb.length + 4 + 512).order(ByteOrder.LITTLE_ENDIAN);
    byte[] header = Arrays.copyOf(good, 512);
    out.put(header).put(bomb).putInt(bomb.length);
    byte[] trailer = Arrays.copyOfRange(good, good.length - 512, good.length);
    out.put(trailer);
    byte[] z = out.array();
    ByteBuffer hb = ByteBuffer.wrap(z).order(ByteOrder.LITTLE_ENDIAN);
    hb.putLong(40, 512 + bomb.length);
    int crc = Crc32c.seedZero(z, 512 + bomb.length, 4);
    hb.putInt(64, crc);
    hb.putInt(28, ZFileHeader.computeDigest(Arrays.copyOf(z, 512)));
    assertThat(stored).isPositive();
    ZFileReader r = ZFileReader.open(new ByteArraySource(z, "bomb"));
    assertThatThrownBy(() -> r.readFully(0, ByteBuffer.allocate(4096)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("block 0")
        .hasMessageContaining("bomb");
  }

  @Test
  void anAbandonedWriterLeavesNoCompressionThreads() throws Exception {
    Path f = tmp.resolve("abandoned");
    try (FileChannel ch =
        FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 3; i++) {
        ZFileWriter w = ZFileWriter.create(ch, 0, ZFileOptions.defaults());
        w.write(ByteBuffer.wrap(content(i, 3 << 20)));
        w.abort();
      }
    }
    Thread.sleep(200);
    assertThat(Thread.getAllStackTraces().keySet())
        .noneMatch(t -> t.getName().equals("zfile-compress") && t.isAlive());
  }

  @Test
  void optionsRejectBlockSizesTheToolsDoNotWrite() {
    assertThatThrownBy(() -> new ZFileOptions(Compression.LZ4, 2048, true, true))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new ZFileOptions(Compression.LZ4, 5000, true, true))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
