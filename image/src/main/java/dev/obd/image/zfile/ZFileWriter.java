package dev.obd.image.zfile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Compresses a byte stream into a ZFile written at a fixed offset of a file (so a tar wrapper can
 * be placed in front of it). Layout and flags follow {@code overlaybd-commit -z}: a header with
 * flags 0x13 first, then the blocks each followed by its CRC, the jump table, a trailer (0x16), and
 * finally the header rewritten with the index fields (0x1B).
 *
 * <p>Not thread-safe: one writer per output. {@link #finish()} must be called to get a valid file;
 * {@link #close()} finishes when that has not happened yet. The channel is not closed.
 */
public final class ZFileWriter implements WritableByteChannel {
  private static final int OUT_BYTES = 1 << 20;

  private final FileChannel out;
  private final long base;
  private final ZFileOptions options;
  private final BlockCodec codec;
  private final ByteBuffer block;
  private final ByteBuffer pending;
  private final int maxStored;
  private final CRC32C crc = new CRC32C();
  private int[] lengths = new int[1024];
  private int blocks;
  private long originalSize;
  private long filePos;
  private long finishedLength = -1;

  private ZFileWriter(FileChannel out, long base, ZFileOptions options) {
    this.out = out;
    this.base = base;
    this.options = options;
    this.codec = BlockCodec.of(options.compression());
    this.block = ByteBuffer.allocateDirect(options.blockSize());
    this.maxStored = codec.maxCompressedLength(options.blockSize()) + 4;
    this.pending = ByteBuffer.allocateDirect(OUT_BYTES + maxStored).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Starts a ZFile at byte {@code base} of {@code out}; the first header is written immediately.
   */
  public static ZFileWriter create(FileChannel out, long base, ZFileOptions options)
      throws IOException {
    ZFileWriter w = new ZFileWriter(out, base, options);
    w.writeAt(base, ByteBuffer.wrap(w.headerBlock(0x13, 0, 0, 0, 0)));
    w.filePos = base + ZFileHeader.BLOCK;
    return w;
  }

  /** Appends the remaining bytes of {@code src}. */
  @Override
  public int write(ByteBuffer src) throws IOException {
    if (finishedLength >= 0) {
      throw new ClosedChannelException();
    }
    int n = src.remaining();
    while (src.hasRemaining()) {
      int take = Math.min(block.remaining(), src.remaining());
      ByteBuffer part = src.duplicate();
      part.limit(part.position() + take);
      block.put(part);
      src.position(src.position() + take);
      if (!block.hasRemaining()) {
        compressBlock();
      }
    }
    originalSize += n;
    return n;
  }

  /** Uncompressed bytes written so far. */
  public long originalSize() {
    return originalSize;
  }

  /**
   * Compresses the last partial block and writes the jump table, the trailer and the final header.
   * Returns the length of the ZFile in bytes (from {@code base}).
   */
  public long finish() throws IOException {
    if (finishedLength >= 0) {
      return finishedLength;
    }
    if (block.position() > 0) {
      compressBlock();
    }
    flushPending();
    long indexOffset = filePos - base;
    ByteBuffer table = ByteBuffer.allocate(4 * blocks).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < blocks; i++) {
      table.putInt(lengths[i]);
    }
    table.flip();
    int indexCrc = Crc32c.seedZero(table.array(), 0, table.limit());
    writeAt(filePos, table);
    filePos += 4L * blocks;
    writeAt(
        filePos, ByteBuffer.wrap(headerBlock(0x16, indexOffset, blocks, originalSize, indexCrc)));
    filePos += ZFileHeader.BLOCK;
    if (options.rewriteHeader()) {
      writeAt(
          base, ByteBuffer.wrap(headerBlock(0x1B, indexOffset, blocks, originalSize, indexCrc)));
    }
    finishedLength = filePos - base;
    return finishedLength;
  }

  @Override
  public boolean isOpen() {
    return finishedLength < 0;
  }

  @Override
  public void close() throws IOException {
    finish();
  }

  private void compressBlock() throws IOException {
    int n = block.position();
    if (pending.remaining() < maxStored) {
      flushPending();
    }
    int at = pending.position();
    int clen = codec.compress(block, 0, n, pending, at);
    int stored = clen;
    if (options.blockCrc()) {
      ByteBuffer view = pending.duplicate();
      view.limit(at + clen).position(at);
      crc.reset();
      crc.update(view);
      pending.putInt(at + clen, Crc32c.blockFromStandard((int) crc.getValue(), clen));
      stored += 4;
    }
    pending.position(at + stored);
    if (blocks == lengths.length) {
      lengths = Arrays.copyOf(lengths, blocks * 2);
    }
    lengths[blocks++] = stored;
    block.clear();
  }

  private void flushPending() throws IOException {
    pending.flip();
    int n = pending.remaining();
    writeAt(filePos, pending);
    filePos += n;
    pending.clear();
  }

  private void writeAt(long position, ByteBuffer src) throws IOException {
    long pos = position;
    while (src.hasRemaining()) {
      pos += out.write(src, pos);
    }
  }

  private byte[] headerBlock(
      long flags, long indexOffset, long indexSize, long original, int indexCrc) {
    return new ZFileHeader(
            flags,
            0,
            indexOffset,
            indexSize,
            original,
            indexCrc,
            options.blockSize(),
            options.compression().code(),
            options.compression() == Compression.ZSTD ? BlockCodec.ZSTD_LEVEL : 0,
            0,
            0,
            options.blockCrc())
        .toBlock();
  }
}
