package dev.obd.image.layer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.ByteArraySource;
import dev.obd.image.HelloWorld;
import dev.obd.image.LayerFormatException;
import dev.obd.image.lsmt.SegmentIndex;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Damaged copies of the official hello-world blob (held in memory; the shared file is never
 * touched): each either fails with a {@link LayerFormatException} naming the layer, or — when the
 * damage hit bytes nobody reads — still yields exactly the original disk. Never other bytes.
 */
class CorruptHelloWorldTest {
  private static byte[] blob;
  private static byte[] disk; // the mapped ranges of the original disk, concatenated

  @BeforeAll
  static void load() throws IOException {
    blob = Files.readAllBytes(HelloWorld.convertedLayer());
    disk = mappedBytes(blob);
  }

  private static byte[] mappedBytes(byte[] b) throws IOException {
    try (LayerStack s =
        LayerStack.open(List.of(new ByteArraySource(b, "damaged-blob")), Optional.empty())) {
      SegmentIndex m = s.mapping();
      ByteBuffer out = ByteBuffer.allocate((int) (m.dataSectors() * 512));
      for (int i = 0; i < m.size(); i++) {
        ByteBuffer part = out.slice();
        part.limit(m.length(i) * 512);
        s.read(m.offset(i) * 512, part);
        out.position(out.position() + m.length(i) * 512);
      }
      return out.array();
    }
  }

  private static byte[] flipped(int at) {
    byte[] b = blob.clone();
    b[at] ^= 0x5A;
    return b;
  }

  @Test
  void aFlippedTarHeaderByteLeavesNoRecognisableLayer() {
    assertThatThrownBy(() -> mappedBytes(flipped(10)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("damaged-blob")
        .hasMessageContaining("no LSMT header");
  }

  @Test
  void aFlippedZFileHeaderByteFailsTheHeaderDigest() {
    assertThatThrownBy(() -> mappedBytes(flipped(1536 + 45)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("header digest mismatch");
  }

  @Test
  void aFlippedJumpTableByteFailsTheTableCrc() {
    assertThatThrownBy(() -> mappedBytes(flipped(1536 + 569_127 + 1000)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("jump table")
        .hasMessageContaining("CRC");
  }

  @Test
  void aFlippedDataByteFailsTheBlockCrcNamingBlockAndOffset() {
    assertThatThrownBy(() -> mappedBytes(flipped(1536 + 512 + 20)))
        .isInstanceOf(LayerFormatException.class)
        .hasMessageContaining("read ZFile block 0 of damaged-blob")
        .hasMessageContaining("at offset 512")
        .hasMessageContaining("CRC mismatch");
  }

  @ParameterizedTest
  @ValueSource(
      ints = {100, 1000, 1536 + 300, 1536 + 100_000, 1536 + 569_127 + 10, 640_000, 1536 + 639_490})
  void truncatedBlobsFailCleanly(int length) {
    byte[] cut = Arrays.copyOf(blob, length);
    assertThatThrownBy(() -> mappedBytes(cut)).isInstanceOf(IOException.class);
  }

  static IntStream seeds() {
    return IntStream.rangeClosed(1, 12);
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void randomDamageNeverYieldsOtherBytes(int seed) {
    Random r = new Random(seed);
    byte[] b = blob.clone();
    for (int i = 0; i < 1 + r.nextInt(3); i++) {
      b[r.nextInt(b.length)] ^= (byte) (1 + r.nextInt(255));
    }
    byte[] got;
    try {
      got = mappedBytes(b);
    } catch (IOException e) {
      assertThat(e).hasMessageContaining("damaged-blob");
      return;
    }
    assertThat(got).isEqualTo(disk);
  }
}
