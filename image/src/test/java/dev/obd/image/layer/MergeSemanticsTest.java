package dev.obd.image.layer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteSource;
import dev.obd.image.lsmt.IndexMerger;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.Layers;
import dev.obd.image.lsmt.Segment;
import dev.obd.image.lsmt.SegmentIndex;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class MergeSemanticsTest {
  @Test
  void upperEntriesWinAndGapsAreFilledFromBelowWithTrimmedMoffsets() {
    SegmentIndex bottom = SegmentIndex.of(List.of(Segment.data(0, 100, 8)));
    SegmentIndex middle = SegmentIndex.of(List.of(Segment.zeroed(10, 10, 8)));
    SegmentIndex top = SegmentIndex.of(List.of(Segment.data(50, 5, 8), Segment.data(200, 4, 13)));
    SegmentIndex merged = IndexMerger.merge(List.of(bottom, middle, top));
    assertThat(merged.segments())
        .containsExactly(
            new Segment(0, 10, 8, false, 0),
            new Segment(10, 10, 8, true, 1),
            new Segment(20, 30, 28, false, 0),
            new Segment(50, 5, 8, false, 2),
            new Segment(55, 45, 63, false, 0),
            new Segment(200, 4, 13, false, 2));
  }

  @Test
  void trimmingTheFrontOfAZeroedEntryKeepsItsMoffset() {
    SegmentIndex bottom = SegmentIndex.of(List.of(Segment.zeroed(0, 100, 30)));
    SegmentIndex top = SegmentIndex.of(List.of(Segment.data(0, 10, 8)));
    assertThat(IndexMerger.merge(List.of(bottom, top)).segments())
        .containsExactly(new Segment(0, 10, 8, false, 1), new Segment(10, 90, 30, true, 0));
  }

  @Test
  void theStackSizeIsTheTopmostNonZeroVirtualSize() throws Exception {
    byte[] a = Layers.committed(1 << 20, LayerUuid.random(), LayerUuid.NIL, List.of());
    byte[] b = Layers.committed(2 << 20, LayerUuid.random(), LayerUuid.NIL, List.of());
    byte[] c = Layers.committed(0, LayerUuid.random(), LayerUuid.NIL, List.of());
    try (LayerStack s =
        LayerStack.open(
            List.of(Layers.source(a, "a"), Layers.source(b, "b"), Layers.source(c, "c")),
            Optional.empty())) {
      assertThat(s.size()).isEqualTo(2 << 20);
    }
  }

  @Test
  void upTo255LayersStackAndMoreAreRefused() throws Exception {
    List<ByteSource> many = new ArrayList<>();
    for (int i = 0; i < 256; i++) {
      byte[] d = new byte[512];
      d[0] = (byte) i;
      many.add(
          Layers.source(
              Layers.committed(
                  1 << 20, LayerUuid.random(), LayerUuid.NIL, List.of(new Layers.Range(i, 1, d))),
              "l" + i));
    }
    try (LayerStack s = LayerStack.open(many.subList(0, 255), Optional.empty())) {
      ByteBuffer b = ByteBuffer.allocate(255 * 512);
      s.read(0, b);
      for (int i = 0; i < 255; i++) {
        assertThat(b.get(i * 512)).isEqualTo((byte) i);
      }
    }
    assertThatThrownBy(() -> LayerStack.open(many, Optional.empty()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("255");
  }

  @Test
  void unalignedAndOutOfRangeReadsAreRefused() throws Exception {
    byte[] a = Layers.committed(1 << 20, LayerUuid.random(), LayerUuid.NIL, List.of());
    try (LayerStack s = LayerStack.open(List.of(Layers.source(a, "a")), Optional.empty())) {
      assertThatThrownBy(() -> s.read(100, ByteBuffer.allocate(512)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> s.read(0, ByteBuffer.allocate(100)))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> s.read((1 << 20) - 512, ByteBuffer.allocate(1024)))
          .isInstanceOf(java.io.EOFException.class);
      assertThat(s.writable()).isFalse();
      assertThatThrownBy(() -> s.write(0, ByteBuffer.allocate(512)))
          .hasMessageContaining("no writable upper");
    }
  }

  @Test
  void aBadLayerIsNamedByItsPositionAndSource() throws Exception {
    byte[] a = Layers.committed(1 << 20, LayerUuid.random(), LayerUuid.NIL, List.of());
    assertThatThrownBy(
            () ->
                LayerStack.open(
                    List.of(Layers.source(a, "good"), Layers.source(new byte[9000], "junk")),
                    Optional.empty()))
        .hasMessageContaining("lower layer 1 of 2")
        .hasMessageContaining("junk");
  }
}
