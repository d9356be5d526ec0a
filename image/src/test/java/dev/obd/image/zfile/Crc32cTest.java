package dev.obd.image.zfile;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Crc32cTest {
  /** Bit-at-a-time reference: register starts at the seed, no inversion. */
  static int reference(int seed, byte[] data) {
    int crc = seed;
    for (byte b : data) {
      crc ^= b & 0xFF;
      for (int k = 0; k < 8; k++) {
        crc = (crc & 1) != 0 ? (crc >>> 1) ^ 0x82F63B78 : crc >>> 1;
      }
    }
    return crc;
  }

  @Test
  void matchesTheFormatReferenceVectors() {
    byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
    assertThat(Crc32c.seedZero(check, 0, check.length)).isEqualTo(0x58E3FA20);
    assertThat(Crc32c.block(ByteBuffer.wrap(check))).isEqualTo(0x3C9BD4E0);
    assertThat(reference(0, check)).isEqualTo(0x58E3FA20);
  }

  @Test
  void agreesWithTheBitwiseReferenceForManyLengths() {
    Random r = new Random(42);
    for (int i = 0; i < 300; i++) {
      byte[] data = new byte[i < 100 ? i : r.nextInt(200_000)];
      r.nextBytes(data);
      assertThat(Crc32c.seedZero(data, 0, data.length))
          .as("seed 0, %d bytes", data.length)
          .isEqualTo(reference(0, data));
      assertThat(Crc32c.block(ByteBuffer.wrap(data)))
          .as("block seed, %d bytes", data.length)
          .isEqualTo(reference(Crc32c.BLOCK_SEED, data));
    }
  }
}
