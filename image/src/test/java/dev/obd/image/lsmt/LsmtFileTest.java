package dev.obd.image.lsmt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.LayerFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class LsmtFileTest {
  private static final LayerUuid U = LayerUuid.parse("01bb4fce-3eb1-b56b-05ad-f99504dafd31");
  private static final LayerUuid P = LayerUuid.random();

  private static byte[] sample() throws Exception {
    byte[] d1 = new byte[8 * 512];
    Arrays.fill(d1, (byte) 7);
    byte[] d2 = new byte[3 * 512];
    Arrays.fill(d2, (byte) 9);
    return Layers.committed(
        1 << 30,
        U,
        P,
        List.of(
            new Layers.Range(0, 8, d1),
            new Layers.Range(8, 3, d2), // adjacent: merged with the first
            new Layers.Range(100, 20, null),
            new Layers.Range(20_000, 1, new byte[512])));
  }

  @Test
  void writerAndReaderAgreeOnHeaderTrailerAndIndex() throws Exception {
    byte[] f = sample();
    LsmtFile l = LsmtFile.open(new ByteArraySource(f, "s"));
    assertThat(l.header().flags()).isEqualTo(0x07);
    assertThat(l.header().indexSize()).isZero();
    assertThat(l.trailer().flags()).isEqualTo(0x06);
    assertThat(l.trailer().uuid()).isEqualTo(U);
    assertThat(l.trailer().parentUuid()).isEqualTo(P);
    assertThat(l.header().uuid()).isEqualTo(U);
    assertThat(l.trailer().version()).isEqualTo(1);
    assertThat(l.virtualSize()).isEqualTo(1 << 30);
    assertThat(l.storedEntries()).isEqualTo(256);
    assertThat(l.index().segments())
        .containsExactly(
            Segment.data(0, 11, 8), Segment.zeroed(100, 20, 19), Segment.data(20_000, 1, 19));
    // uuid text is upper case, NUL-terminated, in byte order
    assertThat(new String(f, 56, 37, "US-ASCII")).isEqualTo(U.toString() + "\0");
    assertThat(U.toString()).isEqualTo("01BB4FCE-3EB1-B56B-05AD-F99504DAFD31");
    assertThat(l.index().lookup(5, 100))
        .containsExactly(Segment.data(5, 6, 13), Segment.zeroed(100, 5, 19));
  }

  @Test
  void longRangesAreSplitIntoEntriesTheFormatCanHold() throws Exception {
    byte[] big = new byte[40_000 * 512];
    byte[] f = Layers.committed(1L << 32, U, P, List.of(new Layers.Range(0, 40_000, big)));
    LsmtFile l = LsmtFile.open(new ByteArraySource(f, "s"));
    assertThat(l.index().size()).isEqualTo(3);
    for (Segment s : l.index().segments()) {
      assertThat(s.length()).isLessThanOrEqualTo(Segment.MAX_LENGTH);
      assertThat(s.length() % 8).isZero();
    }
  }

  /** The sample with entry {@code i} replaced by the packed words lo/hi. */
  private static byte[] withEntry(int i, long lo, long hi) throws Exception {
    byte[] f = sample();
    LsmtFile l = LsmtFile.open(new ByteArraySource(f, "s"));
    ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
    int at = (int) l.trailer().indexOffset() + 16 * i;
    b.putLong(at, lo).putLong(at + 8, hi);
    return f;
  }

  private static long lo(long offset, long length) {
    return offset | (length << 50);
  }

  @Test
  void hostileIndexEntriesAreRejectedNamingTheEntryAndOffset() throws Exception {
    byte[] overlap = withEntry(1, lo(5, 20), 19L | (1L << 55));
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(overlap, "evil")))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("entry 1 of evil")
        .hasMessageContaining("overlaps");
    byte[] outside = withEntry(2, lo(20_000, 1), 1_000_000);
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(outside, "evil")))
        .hasMessageContaining("entry 2")
        .hasMessageContaining("outside the data area");
    byte[] header = withEntry(0, lo(0, 11), 2); // moffset inside the header
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(header, "evil")))
        .hasMessageContaining("outside the data area");
  }

  @Test
  void paddingIsDroppedAndOnDiskTagsAreReset() throws Exception {
    byte[] f = withEntry(2, lo(20_000, 1), 19L | (5L << 56));
    LsmtFile l = LsmtFile.open(new ByteArraySource(f, "s"));
    assertThat(l.index().size()).isEqualTo(3);
    assertThat(l.index().tag(2)).isZero();
  }

  @Test
  void absurdCountsAndMisplacedIndexesAreRejected() throws Exception {
    byte[] f = sample();
    int trailer = f.length - 4096;
    byte[] huge = f.clone();
    ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(trailer + 40, 1_000_001);
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(huge, "x")))
        .hasMessageContaining("exceed the limit");
    byte[] beyond = f.clone();
    ByteBuffer.wrap(beyond).order(ByteOrder.LITTLE_ENDIAN).putLong(trailer + 40, 100_000);
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(beyond, "x")))
        .hasMessageContaining("do not fit");
    byte[] magic = f.clone();
    magic[trailer] = 'X';
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(magic, "x")))
        .hasMessageContaining("trailer")
        .hasMessageContaining("bad magic");
    byte[] cut = Arrays.copyOf(f, f.length - 100);
    assertThatThrownBy(() -> LsmtFile.open(new ByteArraySource(cut, "x")))
        .isInstanceOf(LayerFormatException.class);
  }

  @Test
  void undefinedHeaderFlagBitsAreIgnored() throws Exception {
    byte[] f = sample();
    ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(28, 0x07 | 0x20 | 0x8000);
    b.putInt(f.length - 4096 + 28, 0x06 | 0x28);
    assertThat(LsmtFile.open(new ByteArraySource(f, "s")).index().size()).isEqualTo(3);
  }

  @Test
  void segmentIndexRejectsUnsortedInput() {
    List<Segment> bad = new ArrayList<>(List.of(Segment.data(10, 5, 8), Segment.data(12, 1, 8)));
    assertThatThrownBy(() -> SegmentIndex.of(bad)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Segment.data(0, 16384, 8))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
