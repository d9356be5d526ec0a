package dev.obd.backstore.prefetch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Upstream's I/O trace file: a 24-byte header (magic 0xC2EF1820, record bytes, raw CRC-32C of the
 * records) and 24-byte read records (op 'R', layer index, byte count, offset), offsets in each
 * layer's LSMT-file space (after the tar and ZFile wrappers).
 */
public final class TraceFile {
  static final int MAGIC = 0xC2EF1820;
  static final int RECORD = 24;

  /** One recorded read: {@code count} bytes at {@code offset} of {@code lowers[layer]}. */
  public record Entry(int layer, long offset, long count) {
    public Entry {
      if (layer < 0 || offset < 0 || count <= 0) {
        throw new IllegalArgumentException("bad trace entry " + layer + "/" + offset + "/" + count);
      }
    }
  }

  private TraceFile() {}

  /** Whether {@code file} starts with the trace magic (as opposed to a file list). */
  public static boolean isTrace(Path file) throws IOException {
    if (Files.size(file) < 4) {
      return false;
    }
    byte[] head = new byte[4];
    try (var in = Files.newInputStream(file)) {
      if (in.readNBytes(head, 0, 4) != 4) {
        return false;
      }
    }
    return ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt() == MAGIC;
  }

  /**
   * Reads and checks a trace: magic, size and checksum.
   *
   * @throws IOException naming the file and the check that failed
   */
  public static List<Entry> read(Path file) throws IOException {
    byte[] all = Files.readAllBytes(file);
    ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
    if (all.length < RECORD || b.getInt(0) != MAGIC) {
      throw new IOException("trace " + file + ": no trace magic");
    }
    long dataSize = b.getLong(8);
    if (dataSize % RECORD != 0 || dataSize != all.length - RECORD) {
      throw new IOException(
          "trace "
              + file
              + ": header says "
              + dataSize
              + " record bytes, file has "
              + (all.length - RECORD));
    }
    int crc = RawCrc32c.update(0, all, RECORD, (int) dataSize);
    if (crc != b.getInt(16)) {
      throw new IOException("trace " + file + ": checksum mismatch");
    }
    List<Entry> out = new ArrayList<>();
    for (int p = RECORD; p < all.length; p += RECORD) {
      if (all[p] == 'R') {
        out.add(new Entry(b.getInt(p + 4), b.getLong(p + 16), b.getLong(p + 8)));
      }
    }
    return out;
  }

  /** Writes {@code entries} as a trace, atomically (temp file + rename). */
  public static void write(Path file, List<Entry> entries) throws IOException {
    ByteBuffer b =
        ByteBuffer.allocate(RECORD * (entries.size() + 1)).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(MAGIC).putInt(0).putLong((long) RECORD * entries.size()).putInt(0).putInt(0);
    for (Entry e : entries) {
      b.put((byte) 'R').put((byte) 0).put((byte) 0).put((byte) 0);
      b.putInt(e.layer()).putLong(e.count()).putLong(e.offset());
    }
    byte[] all = b.array();
    b.putInt(16, RawCrc32c.update(0, all, RECORD, all.length - RECORD));
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    Files.write(tmp, all);
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }
}
