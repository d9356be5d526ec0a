package dev.obd.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A data plane cancels requests by interrupting threads; an interrupted read or write must fail
 * alone and leave the file usable for every other request (a plain FileChannel would close).
 */
class InterruptTest {
  @TempDir Path tmp;

  @Test
  void anInterruptedReadFailsAloneAndTheSourceKeepsWorking() throws Exception {
    Path f = tmp.resolve("f");
    Files.write(f, new byte[] {1, 2, 3, 4});
    try (FileByteSource s = FileByteSource.open(f)) {
      Thread.currentThread().interrupt();
      assertThatThrownBy(() -> s.readFully(0, ByteBuffer.allocateDirect(4)))
          .isInstanceOf(InterruptedIOException.class)
          .hasMessageContaining(f.toString());
      assertThat(Thread.interrupted()).isTrue();
      ByteBuffer b = ByteBuffer.allocate(4);
      s.readFully(0, b);
      assertThat(b.array()).containsExactly(1, 2, 3, 4);
    }
  }

  @Test
  void anInterruptedWriteFailsAloneAndTheWritableLayerKeepsWorking() throws Exception {
    try (WritableLayer up =
        WritableLayer.create(
            tmp.resolve("d"), tmp.resolve("i"), 1 << 20, LayerUuid.random(), LayerUuid.NIL)) {
      up.write(0, ByteBuffer.wrap(new byte[512]));
      Thread.currentThread().interrupt();
      assertThatThrownBy(() -> up.write(512, ByteBuffer.allocateDirect(512)))
          .isInstanceOf(InterruptedIOException.class);
      assertThat(Thread.interrupted()).isTrue();
      byte[] d = new byte[512];
      d[0] = 7;
      up.write(1024, ByteBuffer.wrap(d));
      up.flush();
      ByteBuffer b = ByteBuffer.allocate(512);
      up.readStored(up.lookup(2, 1).get(0).moffset() * 512, b);
      assertThat(b.get(0)).isEqualTo((byte) 7);
    }
    try (WritableLayer up = WritableLayer.open(tmp.resolve("d"), tmp.resolve("i"))) {
      assertThat(up.logEntries()).isEqualTo(2);
    }
  }
}
