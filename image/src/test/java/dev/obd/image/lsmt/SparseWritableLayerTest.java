package dev.obd.image.lsmt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.FileByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.sys.Posix;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sparse writable layer ({@code overlaybd-create -s}). Writes and trims here are 4 KiB-aligned:
 * a reopened sparse layer maps whole file-system blocks (ext4 and tmpfs use 4 KiB), so only then is
 * what a reopen shows independent of the file system.
 */
class SparseWritableLayerTest {
  private static final int MIB = 1 << 20;
  private static final int BLOCK = 4096;
  private static final int BLOCKS = 4 * MIB / BLOCK;

  @TempDir Path tmp;

  private final byte[] lowerContent = new byte[4 * MIB];

  private byte[] lower() throws Exception {
    new Random(1).nextBytes(lowerContent);
    return Layers.committed(
        4 * MIB,
        LayerUuid.random(),
        LayerUuid.NIL,
        List.of(new Layers.Range(0, 8192, lowerContent)));
  }

  private Path data() {
    return tmp.resolve("writable_data");
  }

  private Path index() {
    return tmp.resolve("writable_index");
  }

  private WritableLayer createSparse(long vsize) throws Exception {
    return WritableLayer.createSparse(data(), index(), vsize, LayerUuid.random(), LayerUuid.NIL);
  }

  private static byte[] readAll(LayerStack s) throws Exception {
    ByteBuffer b = ByteBuffer.allocate((int) s.size());
    s.read(0, b);
    return b.array();
  }

  /**
   * What the disk should read: {@code live} in this session, {@code reopened} after a reopen, where
   * a punched block is a hole again and shows the lower data.
   */
  private record Model(byte[] live, byte[] reopened) {}

  private Model scribble(LayerStack s, long seed) throws Exception {
    byte[] live = lowerContent.clone();
    byte[] reopened = lowerContent.clone();
    Random r = new Random(seed);
    for (int i = 0; i < 60; i++) {
      int off = r.nextInt(BLOCKS - 16) * BLOCK;
      int len = (1 + r.nextInt(16)) * BLOCK;
      if (i % 5 == 4) {
        s.trim(off, len);
        Arrays.fill(live, off, off + len, (byte) 0);
        System.arraycopy(lowerContent, off, reopened, off, len);
      } else {
        byte[] d = new byte[len];
        r.nextBytes(d);
        s.write(off, ByteBuffer.wrap(d));
        System.arraycopy(d, 0, live, off, len);
        System.arraycopy(d, 0, reopened, off, len);
      }
    }
    return new Model(live, reopened);
  }

  @Test
  void aNewSparseLayerHasFlags0x13AndADataFileAsLargeAsTheDiskWithNothingAllocated()
      throws Exception {
    LayerUuid parent = LayerUuid.random();
    try (WritableLayer up =
        WritableLayer.createSparse(data(), index(), 4 * MIB, LayerUuid.random(), parent)) {
      assertThat(up.isSparse()).isTrue();
      assertThat(up.header().flags()).isEqualTo(0x13);
      assertThat(up.header().parentUuid()).isEqualTo(parent);
      assertThat(up.lookup(0, 8192)).isEmpty();
    }
    assertThat(Files.size(data())).isEqualTo(4096 + 4 * MIB);
    assertThat(Posix.dataExtents(data(), Files.size(data())))
        .containsExactly(new Posix.Extent(0, 4096));
    // the index file is written as overlaybd-create -s writes it, and then left alone
    byte[] index = Files.readAllBytes(index());
    assertThat(index).hasSize(4096);
    assertThat(ByteBuffer.wrap(index).order(ByteOrder.LITTLE_ENDIAN).getInt(28)).isEqualTo(0x01);
  }

  @Test
  void aWriteLandsInPlaceAt4096PlusItsOffsetAndATrimPunchesAHole() throws Exception {
    byte[] d = new byte[2 * BLOCK];
    new Random(3).nextBytes(d);
    try (WritableLayer up = createSparse(4 * MIB)) {
      up.write(MIB, ByteBuffer.wrap(d));
      up.flush();
      assertThat(up.lookup(MIB / 512, 16))
          .containsExactly(new Segment(MIB / 512, 16, MIB / 512 + 8, false, 0));
      byte[] file = Files.readAllBytes(data());
      assertThat(Arrays.copyOfRange(file, 4096 + MIB, 4096 + MIB + d.length)).isEqualTo(d);
      assertThat(Files.size(data())).isEqualTo(4096 + 4 * MIB); // no append

      up.trim(MIB, BLOCK);
      assertThat(up.lookup(MIB / 512, 8))
          .singleElement()
          .extracting(Segment::zeroed)
          .isEqualTo(true);
      assertThat(Posix.dataExtents(data(), Files.size(data())))
          .containsExactly(
              new Posix.Extent(0, 4096),
              new Posix.Extent(4096 + MIB + BLOCK, 4096 + MIB + 2 * BLOCK));
    }
    assertThat(index()).hasSize(4096); // never written to
  }

  @Test
  void writesAndTrimsOverLowersReadBackAndAReopenRebuildsTheMappingFromTheDataExtents()
      throws Exception {
    byte[] lower = lower();
    Model model;
    try (LayerStack s =
        LayerStack.open(
            List.of(new ByteArraySource(lower, "lower")), Optional.of(createSparse(0)))) {
      assertThat(s.size()).isEqualTo(4 * MIB); // adopted from the lowers
      model = scribble(s, 2);
      s.flush();
      assertThat(readAll(s)).isEqualTo(model.live());
    }
    assertThat(Files.size(data())).isEqualTo(4096 + 4 * MIB);
    Files.delete(index()); // a sparse layer does not need its index file
    WritableLayer reopened = WritableLayer.open(data(), index());
    assertThat(reopened.isSparse()).isTrue();
    assertThat(reopened.virtualSize()).isEqualTo(4 * MIB); // persisted into the header
    assertThat(reopened.logEntries()).isZero();
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(reopened))) {
      assertThat(readAll(s)).isEqualTo(model.reopened());
      // and it stays writable in place
      s.write(0, ByteBuffer.wrap(new byte[BLOCK]));
      byte[] expected = model.reopened().clone();
      Arrays.fill(expected, 0, BLOCK, (byte) 0);
      assertThat(readAll(s)).isEqualTo(expected);
    }
  }

  @Test
  void aHandBuiltSparseFileOpensWithLongExtentsSplitAt16383Sectors() throws Exception {
    // the layout of the format reference, written without our header code
    long vsize = 16L * MIB;
    ByteBuffer h = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    h.put(new byte[] {'L', 'S', 'M', 'T', 0, 1, 2, 0});
    h.put(
        new byte[] {
          0x65,
          0x7E,
          0x63,
          (byte) 0xD2,
          (byte) 0x94,
          0x44,
          0x08,
          0x4C,
          (byte) 0xA2,
          (byte) 0xD2,
          (byte) 0xC8,
          (byte) 0xEC,
          0x4F,
          (byte) 0xCF,
          (byte) 0xAE,
          (byte) 0x8A
        });
    h.putInt(24, 390).putInt(28, 0x13).putLong(32, 0).putLong(40, 0).putLong(48, vsize);
    h.put(56, "1A2B3C4D-0000-1111-2222-333344445555".getBytes(StandardCharsets.US_ASCII));
    h.put(93, "00000000-0000-0000-0000-000000000000".getBytes(StandardCharsets.US_ASCII));
    h.put(132, (byte) 1).put(133, (byte) 1);
    byte[] big = new byte[9 * MIB]; // 18432 sectors: one data extent longer than 16383
    new Random(4).nextBytes(big);
    byte[] small = new byte[BLOCK];
    Arrays.fill(small, (byte) 7);
    try (FileChannel f =
        FileChannel.open(data(), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      f.write(h.clear(), 0);
      f.write(ByteBuffer.wrap(big), 4096 + MIB);
      f.write(ByteBuffer.wrap(small), 4096 + 12L * MIB);
    }
    try (RandomAccessFile f = new RandomAccessFile(data().toFile(), "rw")) {
      f.setLength(4096 + vsize);
    }
    byte[] expected = new byte[(int) vsize];
    System.arraycopy(big, 0, expected, MIB, big.length);
    System.arraycopy(small, 0, expected, 12 * MIB, small.length);

    try (WritableLayer up = WritableLayer.open(data(), tmp.resolve("no-such-index"))) {
      assertThat(up.header().uuid().toString()).isEqualTo("1A2B3C4D-0000-1111-2222-333344445555");
      assertThat(up.lookup(0, vsize / 512))
          .extracting(Segment::offset, Segment::length, Segment::moffset)
          .containsExactly(
              Tuple.tuple(2048L, 16383, 2048L + 8),
              Tuple.tuple(2048L + 16383, 18432 - 16383, 2048L + 16383 + 8),
              Tuple.tuple(12L * 2048, 8, 12L * 2048 + 8));
      try (LayerStack s = LayerStack.of(List.of(), Optional.of(up))) {
        assertThat(s.size()).isEqualTo(vsize);
        assertThat(readAll(s)).isEqualTo(expected);
      }
    }
  }

  @Test
  void sealingKeepsHeader0x13AndAddsTheSortedIndexAndTrailer0x16() throws Exception {
    byte[] lower = lower();
    Model model;
    WritableLayer up = createSparse(4 * MIB);
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(lower, "lower")), Optional.of(up))) {
      model = scribble(s, 5);
      up.seal();
      assertThatThrownBy(() -> s.write(0, ByteBuffer.allocate(512))).hasMessageContaining("sealed");
    }
    Path sealed = Files.move(data(), tmp.resolve("overlaybd.sealed"));
    try (LsmtFile f = LsmtFile.open(FileByteSource.open(sealed))) {
      assertThat(f.header().flags()).isEqualTo(0x13);
      assertThat(f.trailer().flags()).isEqualTo(0x16);
      assertThat(f.trailer().indexOffset()).isEqualTo(4096 + 4 * MIB);
      assertThat(f.index().zeroedCount()).isPositive(); // this session's trims
    }
    try (LayerStack s =
        LayerStack.open(
            List.of(new ByteArraySource(lower, "lower"), FileByteSource.open(sealed)),
            Optional.empty())) {
      assertThat(readAll(s)).isEqualTo(model.live());
    }
    assertThatThrownBy(() -> WritableLayer.open(sealed, index()))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("sealed");
  }

  @Test
  void committingASparseLayerWritesWhatCommittingAnAppendLayerWithTheSameWritesWrites()
      throws Exception {
    byte[] lower = lower();
    LayerUuid uuid = LayerUuid.random();
    Path appendDir = Files.createDirectory(tmp.resolve("append"));
    Model model;
    try (LayerStack sparse =
            LayerStack.open(
                List.of(new ByteArraySource(lower, "lower")), Optional.of(createSparse(0)));
        LayerStack append =
            LayerStack.open(
                List.of(new ByteArraySource(lower, "lower")),
                Optional.of(
                    WritableLayer.create(
                        appendDir.resolve("d"),
                        appendDir.resolve("i"),
                        0,
                        LayerUuid.random(),
                        LayerUuid.NIL)))) {
      model = scribble(sparse, 6);
      scribble(append, 6);
      commit(sparse, tmp.resolve("sparse.commit"), uuid);
      commit(append, tmp.resolve("append.commit"), uuid);
    }
    assertThat(Files.readAllBytes(tmp.resolve("sparse.commit")))
        .isEqualTo(Files.readAllBytes(tmp.resolve("append.commit")));
    try (LayerStack s =
        LayerStack.open(
            List.of(
                new ByteArraySource(lower, "lower"),
                FileByteSource.open(tmp.resolve("sparse.commit"))),
            Optional.empty())) {
      assertThat(s.lowers().get(1).lsmt().header().flags()).isEqualTo(0x07);
      assertThat(s.lowers().get(1).trailer().uuid()).isEqualTo(uuid);
      assertThat(readAll(s)).isEqualTo(model.live());
    }
    // a commit after a reopen holds what the reopened layer shows
    try (LayerStack s =
        LayerStack.open(
            List.of(new ByteArraySource(lower, "lower")),
            Optional.of(WritableLayer.open(data(), index())))) {
      commit(s, tmp.resolve("reopened.commit"), uuid);
    }
    try (LayerStack s =
        LayerStack.open(
            List.of(
                new ByteArraySource(lower, "lower"),
                FileByteSource.open(tmp.resolve("reopened.commit"))),
            Optional.empty())) {
      assertThat(readAll(s)).isEqualTo(model.reopened());
    }
  }

  private static void commit(LayerStack s, Path out, LayerUuid uuid) throws Exception {
    try (FileChannel ch =
        FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      s.upper().orElseThrow().commit(ch, uuid, null, null);
    }
  }

  @Test
  void writesBeyondTheVirtualSizeAreRefused() throws Exception {
    try (WritableLayer up = createSparse(MIB)) {
      assertThatThrownBy(() -> up.write(MIB - 512, ByteBuffer.allocate(1024)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> up.trim(MIB, 512)).isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(Files.size(data())).isEqualTo(4096 + MIB);
  }
}
