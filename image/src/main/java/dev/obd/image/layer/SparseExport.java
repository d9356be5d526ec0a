package dev.obd.image.layer;

import dev.obd.image.lsmt.SegmentIndex;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a stack's virtual disk to a raw image file that stays sparse: only ranges some layer
 * stores as data are read, and within them only 4 KiB blocks that are not all zeros are written;
 * holes and zeroed ranges stay holes. The file is written next to the target and renamed into place
 * when complete.
 */
public final class SparseExport {
  private static final int CHUNK = 1 << 20;
  private static final int BLOCK = 4096;

  private SparseExport() {}

  /**
   * Exports {@code disk} to {@code target}; returns the number of bytes actually written (the
   * allocated data).
   */
  public static long export(LayerStack disk, Path target) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".partial");
    long written = 0;
    try (FileChannel out =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      SegmentIndex map = disk.mapping();
      ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
      for (int i = 0; i < map.size(); ) {
        if (map.zeroed(i)) {
          i++;
          continue;
        }
        // extend over adjacent data entries so reads are large
        long start = map.offset(i);
        long end = map.end(i);
        int j = i + 1;
        while (j < map.size() && !map.zeroed(j) && map.offset(j) == end) {
          end = map.end(j);
          j++;
        }
        written += copy(disk, out, start * 512, Math.min(end * 512, disk.size()), buf);
        i = j;
      }
      out.force(true);
    }
    try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(tmp.toFile(), "rw")) {
      raf.setLength(disk.size()); // extends without allocating: the tail stays a hole
    }
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return written;
  }

  private static long copy(LayerStack disk, FileChannel out, long from, long to, ByteBuffer buf)
      throws IOException {
    long written = 0;
    for (long pos = from; pos < to; ) {
      int n = (int) Math.min(buf.capacity(), to - pos);
      buf.clear().limit(n);
      disk.read(pos, buf);
      for (int b = 0; b < n; b += BLOCK) {
        int len = Math.min(BLOCK, n - b);
        if (!allZero(buf, b, len)) {
          ByteBuffer part = buf.duplicate();
          part.limit(b + len).position(b);
          long at = pos + b;
          while (part.hasRemaining()) {
            at += out.write(part, at);
          }
          written += len;
        }
      }
      pos += n;
    }
    return written;
  }

  static boolean allZero(ByteBuffer b, int off, int len) {
    int i = off;
    int end = off + len;
    for (; i + 8 <= end; i += 8) {
      if (b.getLong(i) != 0) {
        return false;
      }
    }
    for (; i < end; i++) {
      if (b.get(i) != 0) {
        return false;
      }
    }
    return true;
  }
}
