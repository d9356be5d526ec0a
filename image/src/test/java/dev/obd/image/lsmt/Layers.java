package dev.obd.image.lsmt;

import dev.obd.image.ByteArraySource;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.util.List;

/** Builds small committed LSMT layers in memory for tests. */
public final class Layers {
  private Layers() {}

  /** One range of a test layer: data (content given) or zeroed. Sectors. */
  public record Range(long sector, int sectors, byte[] data) {
    public boolean zeroed() {
      return data == null;
    }
  }

  /** A raw committed LSMT file holding {@code ranges} (sorted, non-overlapping). */
  public static byte[] committed(long vsize, LayerUuid uuid, LayerUuid parent, List<Range> ranges)
      throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CommittedLayerWriter w =
        CommittedLayerWriter.start(Channels.newChannel(out), vsize, uuid, parent, new byte[0]);
    for (Range r : ranges) {
      if (r.zeroed()) {
        w.writeZeroed(r.sector(), r.sectors());
      } else {
        w.writeData(r.sector(), ByteBuffer.wrap(r.data()));
      }
    }
    long n = w.finish();
    byte[] bytes = out.toByteArray();
    if (n != bytes.length) {
      throw new AssertionError("writer reported " + n + " bytes, wrote " + bytes.length);
    }
    return bytes;
  }

  public static ByteArraySource source(byte[] b, String name) {
    return new ByteArraySource(b, name);
  }
}
