package dev.obd.image.zfile;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

/**
 * The uncompressed view of a ZFile: a seekable file split into independently compressed blocks with
 * a jump table. Every block read is checked against its CRC when the file carries them, and
 * decompresses into at most one block, so corrupt or hostile input fails with a {@link
 * LayerFormatException} naming the block and its offset, never with wrong bytes or an unbounded
 * allocation.
 *
 * <p>Thread-safe and positional: the jump table is immutable after {@link #open}; each reading
 * thread uses its own scratch buffers (about 1.1 MiB of direct memory per thread, kept for the
 * thread's life). The reader does not own the source: closing it closes nothing else.
 */
public final class ZFileReader implements ByteSource {
  /** Upstream's limit on the number of jump-table entries. */
  public static final long MAX_INDEX_SIZE = 1_000_000_000L;

  /** Largest block size the reader accepts (upstream rejects larger). */
  public static final int MAX_BLOCK_SIZE = 65536;

  /** Most compressed bytes fetched from the source in one request. */
  private static final int IO_BYTES = 1 << 20;

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * Whether reads of many whole blocks are decompressed on several cores (the common fork-join
   * pool); {@code -Dobd.image.parallelDecompression=false} turns it off.
   */
  private static final boolean PARALLEL =
      Runtime.getRuntime().availableProcessors() > 1
          && !"false".equals(System.getProperty("obd.image.parallelDecompression"));

  /** Whole blocks a read needs before it is shared out (256 KiB of 4 KiB blocks). */
  private static final int PARALLEL_MIN_BLOCKS = 64;

  /** Blocks per shared chunk of work. */
  private static final int PARALLEL_CHUNK = 16;

  private final ByteSource source;
  private final String name;
  private final ZFileHeader header;
  private final ZFileHeader effective;
  private final Compression compression;
  private final BlockCodec codec;
  private final int blockShift;
  private final int blockSize;
  private final long originalSize;
  private final boolean verify;
  private final JumpTable table;

  private ZFileReader(
      ByteSource source, ZFileHeader header, ZFileHeader effective, JumpTable table) {
    this.source = source;
    this.name = source.describe();
    this.header = header;
    this.effective = effective;
    this.compression = Compression.fromCode(effective.algorithm());
    this.codec = BlockCodec.of(compression);
    this.blockSize = effective.blockSize();
    this.blockShift = Integer.numberOfTrailingZeros(blockSize);
    this.originalSize = effective.originalFileSize();
    this.verify = effective.verify();
    this.table = table;
  }

  /** Whether {@code source} starts with the ZFile magics (it may still be corrupt). */
  public static boolean detect(ByteSource source) throws IOException {
    if (source.size() < ZFileHeader.BLOCK) {
      return false;
    }
    return ZFileHeader.hasMagic(readBlock(source, 0));
  }

  /**
   * Opens the ZFile in {@code source}: checks the header (digest when flagged), takes the index
   * fields from the rewritten header or else from the trailer, and loads and checks the jump table.
   *
   * @throws LayerFormatException when the source is not a valid ZFile
   */
  public static ZFileReader open(ByteSource source) throws IOException {
    String name = source.describe();
    long size = source.size();
    if (size < 2L * ZFileHeader.BLOCK) {
      throw new LayerFormatException(
          "open ZFile " + name + ": " + size + " bytes is too short for a header and a trailer");
    }
    byte[] block = readBlock(source, 0);
    if (!ZFileHeader.hasMagic(block)) {
      throw new LayerFormatException("open ZFile " + name + " at offset 0: bad magic");
    }
    ZFileHeader header = ZFileHeader.parse(block);
    if (!header.isHeader()) {
      throw new LayerFormatException(
          "open ZFile " + name + " at offset 0: header block lacks the header flag");
    }
    if (header.hasDigest() && ZFileHeader.computeDigest(block) != header.digest()) {
      throw new LayerFormatException(
          "open ZFile "
              + name
              + " at offset 0: header digest mismatch (stored "
              + hex(header.digest())
              + ", computed "
              + hex(ZFileHeader.computeDigest(block))
              + ")");
    }
    ZFileHeader effective;
    long indexLimit;
    if (header.isHeaderOverwrite()) {
      effective = header;
      indexLimit = size;
    } else {
      if (!header.isDataFile()) {
        throw new LayerFormatException(
            "open ZFile " + name + " at offset 0: header lacks the data-file flag");
      }
      long trailerOffset = size - ZFileHeader.BLOCK;
      byte[] t = readBlock(source, trailerOffset);
      if (!ZFileHeader.hasMagic(t)) {
        throw new LayerFormatException(
            "open ZFile trailer of " + name + " at offset " + trailerOffset + ": bad magic");
      }
      effective = ZFileHeader.parse(t);
      if (effective.isHeader() || !effective.isDataFile() || !effective.isSealed()) {
        throw new LayerFormatException(
            "open ZFile trailer of "
                + name
                + " at offset "
                + trailerOffset
                + ": flags "
                + hex(effective.definedFlags())
                + " are not those of a sealed trailer");
      }
      indexLimit = trailerOffset;
    }
    return load(source, header, effective, indexLimit);
  }

  private static ZFileReader load(
      ByteSource source, ZFileHeader header, ZFileHeader e, long indexLimit) throws IOException {
    return new ZFileReader(source, header, e, JumpTable.load(source, e, indexLimit));
  }

  /** The header block at offset 0, as stored. */
  public ZFileHeader header() {
    return header;
  }

  /** The header or trailer whose index fields are in use (the header when it was rewritten). */
  public ZFileHeader effectiveHeader() {
    return effective;
  }

  public Compression compression() {
    return compression;
  }

  public int blockSize() {
    return blockSize;
  }

  /** Number of blocks holding the original bytes. */
  public int blockCount() {
    return table.blockCount();
  }

  /** Stored length of block {@code i}, including its CRC. */
  public int storedLength(int i) {
    return (int) (blockStart(i + 1) - blockStart(i));
  }

  /** Byte offset of block {@code i} in the source. */
  public long blockOffset(int i) {
    return blockStart(i);
  }

  /** The uncompressed size. */
  @Override
  public long size() {
    return originalSize;
  }

  @Override
  public String describe() {
    return name;
  }

  /** Closes the underlying source. */
  @Override
  public void close() throws IOException {
    source.close();
  }

  /**
   * Checks the CRC of every block and that it decompresses to its exact length. Returns the number
   * of blocks checked.
   *
   * @throws LayerFormatException on the first bad block
   */
  public int verifyAllBlocks() throws IOException {
    ByteBuffer sink = ByteBuffer.allocateDirect(IO_BYTES);
    for (long pos = 0; pos < originalSize; ) {
      sink.clear();
      int n = (int) Math.min(sink.capacity(), originalSize - pos);
      sink.limit(n);
      readFully(pos, sink);
      pos += n;
    }
    return table.blockCount();
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    int n = dst.remaining();
    if (position < 0 || position > originalSize - n) {
      throw new EOFException(
          "read "
              + n
              + " bytes of ZFile "
              + name
              + " at uncompressed offset "
              + position
              + ": past its end ("
              + originalSize
              + " bytes)");
    }
    Scratch s = SCRATCH.get();
    ByteBuffer comp = s.compressed;
    long pos = position;
    while (dst.hasRemaining()) {
      int first = (int) (pos >>> blockShift);
      int last = (int) ((pos + dst.remaining() - 1) >>> blockShift);
      long runStart = blockStart(first);
      int runLast = first;
      while (runLast < last && blockStart(runLast + 2) - runStart <= comp.capacity()) {
        runLast++;
      }
      int runBytes = (int) (blockStart(runLast + 1) - runStart);
      comp.clear().limit(runBytes);
      source.readFully(runStart, comp);
      int off = 0;
      for (int b = first; b <= runLast; b++) {
        int stored = (int) (blockStart(b + 1) - blockStart(b));
        int payload = verify ? stored - 4 : stored;
        int blockLen = blockLength(b);
        int inBlock = (int) (pos - ((long) b << blockShift));
        int want = Math.min(blockLen - inBlock, dst.remaining());
        boolean direct = dst.isDirect() || codec.acceptsHeapDestination();
        if (inBlock == 0 && direct && PARALLEL) {
          int full = Math.min(runLast - b + 1, dst.remaining() >>> blockShift);
          if (full >= PARALLEL_MIN_BLOCKS) {
            decodeParallel(comp, runStart, b, b + full - 1, dst, dst.position());
            int bytes = full << blockShift;
            dst.position(dst.position() + bytes);
            pos += bytes;
            off = (int) (blockStart(b + full) - runStart);
            b += full - 1;
            continue;
          }
        }
        if (verify) {
          checkCrc(s, comp, off, payload, b, runStart + off);
        }
        if (inBlock == 0 && want == blockLen && direct) {
          decompress(comp, off, payload, dst, dst.position(), blockLen, b, runStart + off);
          dst.position(dst.position() + blockLen);
        } else {
          decompress(comp, off, payload, s.block, 0, blockLen, b, runStart + off);
          ByteBuffer slice = s.block.duplicate();
          slice.limit(inBlock + want).position(inBlock);
          dst.put(slice);
        }
        pos += want;
        off += stored;
      }
    }
  }

  /**
   * Checks and decompresses the whole blocks {@code [fb, lb]} of a fetched run into {@code dst}
   * from {@code dstBase} on, sharing the work with the common fork-join pool in chunks of {@link
   * #PARALLEL_CHUNK} blocks. The calling thread works too and takes over chunks no helper has
   * started, so a busy pool costs no latency; it returns only when every chunk is done.
   */
  private void decodeParallel(
      ByteBuffer comp, long runStart, int fb, int lb, ByteBuffer dst, int dstBase)
      throws LayerFormatException {
    int chunks = (lb - fb + PARALLEL_CHUNK) / PARALLEL_CHUNK;
    AtomicInteger next = new AtomicInteger();
    CountDownLatch done = new CountDownLatch(chunks);
    AtomicReference<RuntimeException> failure = new AtomicReference<>();
    AtomicReference<LayerFormatException> corrupt = new AtomicReference<>();
    Runnable work =
        () -> {
          CRC32C crc = new CRC32C();
          ByteBuffer src = comp.duplicate().order(ByteOrder.LITTLE_ENDIAN);
          for (int c; (c = next.getAndIncrement()) < chunks; ) {
            try {
              int from = fb + c * PARALLEL_CHUNK;
              int to = Math.min(lb, from + PARALLEL_CHUNK - 1);
              for (int b = from; b <= to; b++) {
                int off = (int) (blockStart(b) - runStart);
                int stored = (int) (blockStart(b + 1) - blockStart(b));
                int payload = verify ? stored - 4 : stored;
                if (verify) {
                  checkCrc(crc, src, off, payload, b, runStart + off);
                }
                decompress(
                    src,
                    off,
                    payload,
                    dst,
                    dstBase + ((b - fb) << blockShift),
                    blockLength(b),
                    b,
                    runStart + off);
              }
            } catch (LayerFormatException e) {
              corrupt.compareAndSet(null, e);
            } catch (RuntimeException e) {
              failure.compareAndSet(null, e);
            } finally {
              done.countDown();
            }
          }
        };
    int helpers = Math.min(chunks - 1, ForkJoinPool.getCommonPoolParallelism());
    for (int i = 0; i < helpers; i++) {
      ForkJoinPool.commonPool().execute(work);
    }
    work.run();
    boolean interrupted = false;
    while (true) {
      try {
        done.await(); // helpers write into dst: never return before they are finished
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    if (corrupt.get() != null) {
      throw corrupt.get();
    }
    if (failure.get() != null) {
      throw failure.get();
    }
  }

  private void checkCrc(CRC32C crc, ByteBuffer view, int off, int payload, int b, long at)
      throws LayerFormatException {
    int stored = view.getInt(off + payload);
    ByteBuffer part = view.duplicate();
    part.limit(off + payload).position(off);
    crc.reset();
    crc.update(part);
    int computed = Crc32c.blockFromStandard((int) crc.getValue(), payload);
    if (computed != stored) {
      throw crcMismatch(b, at, stored, computed);
    }
  }

  private void checkCrc(Scratch s, ByteBuffer comp, int off, int payload, int b, long at)
      throws LayerFormatException {
    int stored = comp.getInt(off + payload);
    comp.limit(off + payload).position(off);
    s.crc.reset();
    s.crc.update(comp);
    int computed = Crc32c.blockFromStandard((int) s.crc.getValue(), payload);
    comp.limit(comp.capacity());
    if (computed != stored) {
      throw crcMismatch(b, at, stored, computed);
    }
  }

  private LayerFormatException crcMismatch(int b, long at, int stored, int computed) {
    return new LayerFormatException(
        "read ZFile block "
            + b
            + " of "
            + name
            + " at offset "
            + at
            + ": CRC mismatch (stored "
            + hex(stored)
            + ", computed "
            + hex(computed)
            + ")");
  }

  private void decompress(
      ByteBuffer comp,
      int off,
      int payload,
      ByteBuffer dst,
      int dstOff,
      int expected,
      int b,
      long at)
      throws LayerFormatException {
    int got;
    try {
      got = codec.decompress(comp, off, payload, dst, dstOff, expected);
    } catch (IllegalStateException e) {
      throw new LayerFormatException(
          "read ZFile block " + b + " of " + name + " at offset " + at + ": " + e.getMessage(), e);
    }
    if (got != expected) {
      throw new LayerFormatException(
          "read ZFile block "
              + b
              + " of "
              + name
              + " at offset "
              + at
              + ": decompressed to "
              + got
              + " bytes, expected "
              + expected);
    }
  }

  private int blockLength(int b) {
    long start = (long) b << blockShift;
    return (int) Math.min(blockSize, originalSize - start);
  }

  private long blockStart(int i) {
    return table.blockStart(i);
  }

  private static byte[] readBlock(ByteSource source, long offset) throws IOException {
    byte[] block = new byte[ZFileHeader.BLOCK];
    source.readFully(offset, ByteBuffer.wrap(block));
    return block;
  }

  static String hex(long v) {
    return "0x" + Long.toHexString(v).toUpperCase(java.util.Locale.ROOT);
  }

  static String hex(int v) {
    return hex(v & 0xFFFFFFFFL);
  }

  /** Per-thread buffers: compressed bytes of one request, one decompressed block, a CRC. */
  private static final class Scratch {
    final ByteBuffer compressed =
        ByteBuffer.allocateDirect(IO_BYTES + 2 * MAX_BLOCK_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    final ByteBuffer block = ByteBuffer.allocateDirect(MAX_BLOCK_SIZE);
    final CRC32C crc = new CRC32C();
  }
}
