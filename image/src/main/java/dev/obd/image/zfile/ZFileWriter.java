package dev.obd.image.zfile;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.CRC32C;

/**
 * Compresses a byte stream into a ZFile written at a fixed offset of a file (so a tar wrapper can
 * be placed in front of it). Layout and flags follow {@code overlaybd-commit -z}: a header with
 * flags 0x13 first, then the blocks each followed by its CRC, the jump table, a trailer (0x16), and
 * finally the header rewritten with the index fields (0x1B).
 *
 * <p>Blocks are compressed in 1 MiB batches on up to {@link #THREADS} threads and written in order,
 * so compression, not the writer, sets the pace. Not thread-safe: one writer per output. {@link
 * #finish()} must be called to get a valid file; {@link #close()} finishes when that has not
 * happened yet and always stops the writer's threads. The channel is not closed.
 */
public final class ZFileWriter implements WritableByteChannel {
  /** Compression threads per writer: the machine's cores, at most 8. */
  static final int THREADS = Math.min(8, Runtime.getRuntime().availableProcessors());

  private static final int BATCH = 1 << 20;

  private final FileChannel out;
  private final long base;
  private final ZFileOptions options;
  private final BlockCodec codec;
  private final int maxStored;
  private final ExecutorService pool;
  private final Deque<Future<Batch>> inFlight = new ArrayDeque<>();
  private final Deque<Batch> free = new ArrayDeque<>();
  private Batch filling;
  private int[] lengths = new int[1024];
  private int blocks;
  private long originalSize;
  private long filePos;
  private long finishedLength = -1;

  /** Input bytes of up to 1 MiB and, once compressed, their blocks and stored lengths. */
  private final class Batch {
    final ByteBuffer input = ByteBuffer.allocateDirect(BATCH);
    final ByteBuffer output;
    final int[] stored = new int[BATCH / options.blockSize() + 1];
    int count;
    final CRC32C crc = new CRC32C();

    Batch() {
      output =
          ByteBuffer.allocateDirect((BATCH / options.blockSize() + 1) * maxStored)
              .order(ByteOrder.LITTLE_ENDIAN);
    }

    Batch compress() {
      int n = input.position();
      int bs = options.blockSize();
      output.clear();
      count = 0;
      for (int off = 0; off < n; off += bs) {
        int len = Math.min(bs, n - off);
        int at = output.position();
        int clen = codec.compress(input, off, len, output, at);
        int s = clen;
        if (options.blockCrc()) {
          ByteBuffer view = output.duplicate();
          view.limit(at + clen).position(at);
          crc.reset();
          crc.update(view);
          output.putInt(at + clen, Crc32c.blockFromStandard((int) crc.getValue(), clen));
          s += 4;
        }
        output.position(at + s);
        stored[count++] = s;
      }
      output.flip();
      return this;
    }
  }

  private ZFileWriter(FileChannel out, long base, ZFileOptions options) {
    this.out = out;
    this.base = base;
    this.options = options;
    this.codec = BlockCodec.of(options.compression());
    this.maxStored = codec.maxCompressedLength(options.blockSize()) + 4;
    this.pool =
        THREADS > 1
            ? Executors.newFixedThreadPool(
                THREADS,
                r -> {
                  Thread t = new Thread(r, "zfile-compress");
                  t.setDaemon(true);
                  return t;
                })
            : null;
  }

  /**
   * Starts a ZFile at byte {@code base} of {@code out}; the first header is written immediately.
   */
  public static ZFileWriter create(FileChannel out, long base, ZFileOptions options)
      throws IOException {
    ZFileWriter w = new ZFileWriter(out, base, options);
    try {
      w.writeAt(base, ByteBuffer.wrap(w.headerBlock(0x13, 0, 0, 0, 0)));
    } catch (IOException | RuntimeException e) {
      w.shutdown();
      throw e;
    }
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
      if (filling == null) {
        filling = free.isEmpty() ? new Batch() : free.pollFirst();
        filling.input.clear();
      }
      int take = Math.min(filling.input.remaining(), src.remaining());
      ByteBuffer part = src.duplicate();
      part.limit(part.position() + take);
      filling.input.put(part);
      src.position(src.position() + take);
      if (!filling.input.hasRemaining()) {
        submit();
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
   * Compresses what is left and writes the jump table, the trailer and the final header. Returns
   * the length of the ZFile in bytes (from {@code base}).
   */
  public long finish() throws IOException {
    if (finishedLength >= 0) {
      return finishedLength;
    }
    try {
      if (filling != null && filling.input.position() > 0) {
        submit();
      }
      while (!inFlight.isEmpty()) {
        writeBatch(await(inFlight.pollFirst()));
      }
    } finally {
      shutdown();
    }
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
    try {
      finish();
    } finally {
      shutdown();
    }
  }

  /** Gives up: stops the compression threads without writing anything more. */
  public void abort() {
    finishedLength = Math.max(finishedLength, 0);
    shutdown();
  }

  private void submit() throws IOException {
    Batch b = filling;
    filling = null;
    if (pool == null) {
      writeBatch(b.compress());
      return;
    }
    inFlight.addLast(pool.submit(b::compress));
    while (inFlight.size() > THREADS) {
      writeBatch(await(inFlight.pollFirst()));
    }
  }

  private Batch await(Future<Batch> f) throws IOException {
    try {
      return f.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("compress ZFile blocks: interrupted");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof RuntimeException) {
        throw (RuntimeException) c;
      }
      throw new IOException("compress ZFile blocks: " + c, c);
    }
  }

  private void writeBatch(Batch b) throws IOException {
    int n = b.output.remaining();
    writeAt(filePos, b.output);
    filePos += n;
    if (blocks + b.count > lengths.length) {
      lengths = Arrays.copyOf(lengths, Math.max(lengths.length * 2, blocks + b.count));
    }
    System.arraycopy(b.stored, 0, lengths, blocks, b.count);
    blocks += b.count;
    free.addLast(b);
  }

  private void shutdown() {
    if (pool != null) {
      pool.shutdownNow();
    }
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
