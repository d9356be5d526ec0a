package dev.obd.backstore.prefetch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TraceFileTest {
  @TempDir Path dir;

  @Test
  void rawCrc32cMatchesTheReferenceVectors() {
    byte[] v = "123456789".getBytes(StandardCharsets.US_ASCII);
    assertThat(RawCrc32c.update(0, v, 0, v.length)).isEqualTo(0x58E3FA20);
    assertThat(RawCrc32c.update(100007, v, 0, v.length)).isEqualTo(0x3C9BD4E0);
    byte[] name = "Container Image Trace Format".getBytes(StandardCharsets.US_ASCII);
    java.util.zip.CRC32 crc = new java.util.zip.CRC32();
    crc.update(name);
    assertThat((int) crc.getValue())
        .as("the magic is CRC-32 of its name")
        .isEqualTo(TraceFile.MAGIC);
  }

  @Test
  void aWrittenTraceReadsBackAndADamagedOneIsRejected() throws Exception {
    Path t = dir.resolve("trace");
    List<TraceFile.Entry> entries =
        List.of(new TraceFile.Entry(0, 0, 4096), new TraceFile.Entry(2, 1 << 20, 512));
    TraceFile.write(t, entries);
    assertThat(Files.size(t)).isEqualTo(24 * 3);
    assertThat(TraceFile.isTrace(t)).isTrue();
    assertThat(TraceFile.read(t)).isEqualTo(entries);
    byte[] b = Files.readAllBytes(t);
    b[40] ^= 1;
    Files.write(t, b);
    assertThatThrownBy(() -> TraceFile.read(t)).hasMessageContaining("checksum mismatch");
  }
}
