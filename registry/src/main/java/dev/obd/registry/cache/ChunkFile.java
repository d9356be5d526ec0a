package dev.obd.registry.cache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The on-disk form of one cached chunk: the data, then a CRC32C per 4 KiB page, then the data
 * length and a magic number. A reader checks only the pages it reads, so a 4 KiB read of a 256 KiB
 * chunk costs 4 KiB of checksum work, yet any corrupted byte it would return is detected.
 *
 * <p>Files are written under a temporary name and renamed into place, so a crash leaves either no
 * file or a complete one; a file damaged later (disk, a crash before the data reached the disk)
 * fails its checks and is refetched.
 */
final class ChunkFile {
  static final int PAGE = 4096;
  private static final int MAGIC = 0x4f424443; // "OBDC"

  private ChunkFile() {}

  /** Writes {@code data} as the chunk file {@code file}, atomically. */
  static void write(Path file, byte[] data) throws IOException {
    int pages = (data.length + PAGE - 1) / PAGE;
    ByteBuffer trailer = ByteBuffer.allocate(pages * 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
    CRC32C crc = new CRC32C();
    for (int p = 0; p < pages; p++) {
      crc.reset();
      crc.update(data, p * PAGE, Math.min(PAGE, data.length - p * PAGE));
      trailer.putInt((int) crc.getValue());
    }
    trailer.putInt(data.length).putInt(MAGIC).flip();
    Files.createDirectories(file.getParent());
    Path tmp = file.resolveSibling(".tmp-" + UUID.randomUUID());
    try (FileChannel ch =
        FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer d = ByteBuffer.wrap(data);
      while (d.hasRemaining()) {
        ch.write(d);
      }
      while (trailer.hasRemaining()) {
        ch.write(trailer);
      }
    } catch (IOException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** Size of the chunk file holding {@code dataLength} bytes. */
  static long fileSize(int dataLength) {
    return dataLength + 4L * ((dataLength + PAGE - 1) / PAGE) + 8;
  }

  /**
   * Reads {@code dst.remaining()} bytes at {@code offset} inside the chunk, verifying the pages
   * they come from.
   *
   * @throws CorruptChunkException if the file is damaged or a page does not match its checksum
   */
  static void read(Path file, int expectedLength, int offset, ByteBuffer dst) throws IOException {
    try (FileChannel ch = open(file, expectedLength)) {
      read(ch, file, expectedLength, offset, dst);
    }
  }

  /** Opens a chunk file after checking its size and trailer; the caller closes the channel. */
  static FileChannel open(Path file, int expectedLength) throws IOException {
    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
    try {
      long size = ch.size();
      if (size != fileSize(expectedLength)) {
        throw new CorruptChunkException(
            file + ": size " + size + ", expected " + fileSize(expectedLength));
      }
      ByteBuffer tail = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, tail, size - 8);
      if (tail.getInt(0) != expectedLength || tail.getInt(4) != MAGIC) {
        throw new CorruptChunkException(file + ": bad trailer");
      }
      return ch;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /** Reads from a chunk opened with {@link #open}, verifying the pages the bytes come from. */
  static void read(FileChannel ch, Path file, int expectedLength, int offset, ByteBuffer dst)
      throws IOException {
    {
      int length = dst.remaining();
      int firstPage = offset / PAGE;
      int lastPage = (offset + length - 1) / PAGE;
      int pageStart = firstPage * PAGE;
      int pageEnd = Math.min(expectedLength, (lastPage + 1) * PAGE);
      ByteBuffer pages = ByteBuffer.allocate(pageEnd - pageStart);
      readFully(ch, pages, pageStart);
      ByteBuffer crcs =
          ByteBuffer.allocate((lastPage - firstPage + 1) * 4).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, crcs, expectedLength + 4L * firstPage);
      CRC32C crc = new CRC32C();
      for (int p = firstPage; p <= lastPage; p++) {
        int from = (p - firstPage) * PAGE;
        int n = Math.min(PAGE, pageEnd - pageStart - from);
        crc.reset();
        crc.update(pages.array(), from, n);
        if ((int) crc.getValue() != crcs.getInt((p - firstPage) * 4)) {
          throw new CorruptChunkException(file + ": checksum mismatch in page " + p);
        }
      }
      dst.put(pages.array(), offset - pageStart, length);
    }
  }

  /** Reads the whole chunk (verified). */
  static byte[] readAll(Path file, int expectedLength) throws IOException {
    ByteBuffer all = ByteBuffer.allocate(expectedLength);
    read(file, expectedLength, 0, all);
    return all.array();
  }

  private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
    long pos = position;
    while (dst.hasRemaining()) {
      int n = ch.read(dst, pos);
      if (n < 0) {
        throw new CorruptChunkException("unexpected end of cache file at " + pos);
      }
      pos += n;
    }
    dst.flip();
  }

  /** A cache file that fails its checks. */
  static final class CorruptChunkException extends IOException {
    CorruptChunkException(String message) {
      super(message);
    }
  }
}
