package dev.obd.image.lsmt;

import dev.obd.image.LayerFormatException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.StampedLock;

/**
 * The append-only writable layer of overlaybd ({@code writable_data} + {@code writable_index}, or
 * {@code upper.data} / {@code upper.index} in config.v1.json): every write appends its bytes to the
 * data file and a 16-byte entry to the index log; a trim appends a zeroed entry. Opening replays
 * the log in order, a later entry overriding the overlapped parts of earlier ones. {@link #seal()}
 * turns the data file into a read-only {@code overlaybd.sealed} layer; {@link #commit} compacts it
 * into a committed layer.
 *
 * <p>Thread-safe. Writers append data concurrently and serialise only the 16-byte log append and
 * map update; readers look the mapping up optimistically (a {@link StampedLock} read that retries
 * only when a write raced with it), so reads never wait for each other. All offsets and lengths
 * must be multiples of 512. The layer owns both files and closes them.
 */
public final class WritableLayer implements Closeable {
  /** Upstream's limit on entries in a writable index log. */
  public static final long MAX_INDEX_ENTRIES = 128_000_000;

  /** Longest range one log entry covers (upstream splits larger I/O into 4 MiB pieces). */
  static final int MAX_ENTRY_BYTES = 4 << 20;

  private static final int DATA_HEADER_FLAGS = LsmtHeader.FLAG_HEADER | LsmtHeader.FLAG_DATA_FILE;
  private static final int INDEX_HEADER_FLAGS = LsmtHeader.FLAG_HEADER;

  private final Path dataPath;
  private final Path indexPath;
  private final ReopeningChannel data;
  private final ReopeningChannel index;
  private final AtomicLong dataEnd;
  private final Object appendLock = new Object();
  private final ExtentMap map = new ExtentMap();
  private volatile LsmtHeader dataHeader;
  private long indexEnd; // guarded by appendLock
  private long entries; // guarded by appendLock
  private volatile boolean open = true;

  private WritableLayer(
      Path dataPath,
      Path indexPath,
      ReopeningChannel data,
      ReopeningChannel index,
      LsmtHeader header)
      throws IOException {
    this.dataPath = dataPath;
    this.indexPath = indexPath;
    this.data = data;
    this.index = index;
    this.dataHeader = header;
    this.dataEnd = new AtomicLong(roundUp512(data.size()));
    long indexSize = index.size();
    this.indexEnd = indexSize - (indexSize - LsmtHeader.SIZE) % 16;
  }

  /**
   * Creates a new writable layer; both files must not exist yet.
   *
   * @param virtualSize size of the virtual disk in bytes (a multiple of 512), or 0 to take the
   *     lowers' size when stacked
   * @param uuid this layer's uuid ({@link LayerUuid#random()} as overlaybd does by default)
   * @param parent the top lower layer's uuid, or {@link LayerUuid#NIL}
   */
  public static WritableLayer create(
      Path dataPath, Path indexPath, long virtualSize, LayerUuid uuid, LayerUuid parent)
      throws IOException {
    if (virtualSize < 0 || virtualSize % 512 != 0) {
      throw new IllegalArgumentException(
          "virtual size " + virtualSize + " is not a non-negative multiple of 512");
    }
    LsmtHeader dh = LsmtHeader.create(DATA_HEADER_FLAGS, virtualSize, uuid, parent, null);
    LsmtHeader ih =
        LsmtHeader.create(INDEX_HEADER_FLAGS, virtualSize, uuid, parent, null)
            .with(INDEX_HEADER_FLAGS, LsmtHeader.SIZE, 0);
    ReopeningChannel d = null;
    ReopeningChannel i = null;
    try {
      d =
          ReopeningChannel.open(
              dataPath,
              StandardOpenOption.CREATE_NEW,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      i =
          ReopeningChannel.open(
              indexPath,
              StandardOpenOption.CREATE_NEW,
              StandardOpenOption.READ,
              StandardOpenOption.WRITE);
      writeFully(d, ByteBuffer.wrap(dh.toBlock()), 0);
      writeFully(i, ByteBuffer.wrap(ih.toBlock()), 0);
      d.force(true);
      i.force(true);
      return new WritableLayer(dataPath, indexPath, d, i, dh);
    } catch (IOException | RuntimeException e) {
      closeQuietly(d, e);
      closeQuietly(i, e);
      throw e;
    }
  }

  /**
   * Opens an existing writable layer and replays its index log.
   *
   * @throws LayerFormatException when either file is not what it should be
   */
  public static WritableLayer open(Path dataPath, Path indexPath) throws IOException {
    ReopeningChannel d = null;
    ReopeningChannel i = null;
    try {
      d = ReopeningChannel.open(dataPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
      i = ReopeningChannel.open(indexPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
      LsmtHeader dh = readHeader(d, dataPath, "data");
      if (!dh.isHeader() || !dh.isDataFile()) {
        throw new LayerFormatException(
            "open writable layer data file "
                + dataPath
                + ": flags 0x"
                + Integer.toHexString(dh.flags())
                + " are not those of a data file header");
      }
      if (dh.isSparse()) {
        throw new LayerFormatException(
            "open writable layer data file "
                + dataPath
                + ": sparse writable layers (overlaybd-create -s) are not supported");
      }
      if (isSealed(d)) {
        throw new LayerFormatException(
            "open writable layer data file "
                + dataPath
                + ": it is sealed (has a trailer); open it as a read-only layer");
      }
      LsmtHeader ih = readHeader(i, indexPath, "index");
      if (!ih.isHeader()
          || ih.isDataFile()
          || ih.isSealed()
          || ih.indexOffset() != LsmtHeader.SIZE) {
        throw new LayerFormatException(
            "open writable layer index file "
                + indexPath
                + ": flags 0x"
                + Integer.toHexString(ih.flags())
                + " / index offset "
                + ih.indexOffset()
                + " are not those of an index log");
      }
      WritableLayer layer = new WritableLayer(dataPath, indexPath, d, i, dh);
      layer.replay();
      return layer;
    } catch (IOException | RuntimeException e) {
      closeQuietly(d, e);
      closeQuietly(i, e);
      throw e;
    }
  }

  private void replay() throws IOException {
    long n = (indexEnd - LsmtHeader.SIZE) / 16;
    if (n > MAX_INDEX_ENTRIES) {
      throw new LayerFormatException(
          "open writable layer index " + indexPath + ": " + n + " entries exceed the limit");
    }
    long dataSectors = data.size() / 512;
    ByteBuffer chunk = ByteBuffer.allocate(64 * 1024).order(ByteOrder.LITTLE_ENDIAN);
    for (long i = 0; i < n; ) {
      chunk.clear();
      chunk.limit((int) Math.min(chunk.capacity(), 16 * (n - i)));
      long at = LsmtHeader.SIZE + 16 * i;
      readFully(index, chunk, at);
      chunk.flip();
      for (; chunk.remaining() >= 16; i++) {
        long l = chunk.getLong();
        long h = chunk.getLong();
        long offset = l & SegmentIndex.OFFSET_MASK;
        int length = (int) (l >>> 50);
        if (offset == Segment.INVALID_OFFSET || length == 0) {
          continue;
        }
        long moffset = h & SegmentIndex.MOFFSET_MASK;
        boolean zeroed = (h & SegmentIndex.ZEROED_BIT) != 0;
        if (moffset < 8 || (zeroed ? moffset > dataSectors : moffset + length > dataSectors)) {
          throw new LayerFormatException(
              "open writable layer index entry "
                  + i
                  + " of "
                  + indexPath
                  + " at offset "
                  + (LsmtHeader.SIZE + 16 * i)
                  + ": moffset "
                  + moffset
                  + "+"
                  + length
                  + " lies outside the data file ("
                  + dataSectors
                  + " sectors)");
        }
        map.put(new ExtentMap.Extent(offset, offset + length, moffset, zeroed));
        entries++;
      }
    }
  }

  public Path dataPath() {
    return dataPath;
  }

  public Path indexPath() {
    return indexPath;
  }

  /** The data file's header (virtual size, uuids). */
  public LsmtHeader header() {
    return dataHeader;
  }

  public long virtualSize() {
    return dataHeader.virtualSize();
  }

  /**
   * Sets the virtual size of a layer created with size 0 and persists it into both headers, as
   * overlaybd does when it stacks such a layer on lowers. No-op when the size is already set.
   */
  public void adoptVirtualSize(long size) throws IOException {
    synchronized (appendLock) {
      if (dataHeader.virtualSize() != 0 || size == 0) {
        return;
      }
      LsmtHeader dh = dataHeader;
      LsmtHeader updated =
          new LsmtHeader(
              dh.flags(),
              dh.indexOffset(),
              dh.indexSize(),
              size,
              dh.uuid(),
              dh.parentUuid(),
              dh.version(),
              dh.subVersion(),
              dh.userTag());
      LsmtHeader ih = readHeader(index, indexPath, "index");
      LsmtHeader updatedIndex =
          new LsmtHeader(
              ih.flags(),
              ih.indexOffset(),
              ih.indexSize(),
              size,
              ih.uuid(),
              ih.parentUuid(),
              ih.version(),
              ih.subVersion(),
              ih.userTag());
      writeFully(data, ByteBuffer.wrap(updated.toBlock()), 0);
      writeFully(index, ByteBuffer.wrap(updatedIndex.toBlock()), 0);
      dataHeader = updated;
    }
  }

  /** Writes {@code src} at byte {@code offset} of the virtual disk. */
  public void write(long offset, ByteBuffer src) throws IOException {
    checkRange("write", offset, src.remaining());
    long off = offset;
    while (src.hasRemaining()) {
      int n = Math.min(src.remaining(), MAX_ENTRY_BYTES);
      ByteBuffer part = src.duplicate();
      part.limit(part.position() + n);
      long at = dataEnd.getAndAdd(n);
      writeFully(data, part, at);
      src.position(src.position() + n);
      append(new ExtentMap.Extent(off / 512, (off + n) / 512, at / 512, false));
      off += n;
    }
  }

  /** Makes {@code length} bytes from {@code offset} read as zeros, hiding lower layers. */
  public void trim(long offset, long length) throws IOException {
    checkRange("trim", offset, length);
    for (long off = offset, left = length; left > 0; ) {
      long n = Math.min(left, MAX_ENTRY_BYTES);
      append(new ExtentMap.Extent(off / 512, (off + n) / 512, dataEnd.get() / 512, true));
      off += n;
      left -= n;
    }
  }

  /** Makes completed writes and trims durable (data first, then the index log). */
  public void flush() throws IOException {
    ensureOpen("flush");
    data.force(false);
    index.force(false);
  }

  /**
   * The mapping of {@code [sector, sector+count)}: entries trimmed to the range, moffsets in data
   * file sectors; gaps are holes (look below). Lock-free unless a write races with it.
   */
  public List<Segment> lookup(long sector, long count) {
    return map.lookup(sector, count);
  }

  /**
   * Reads stored bytes of the data file at byte {@code position}; bytes past its end read as zeros,
   * as upstream does for a torn tail.
   */
  public void readStored(long position, ByteBuffer dst) throws IOException {
    long pos = position;
    while (dst.hasRemaining()) {
      int r = data.read(dst, pos);
      if (r < 0) {
        while (dst.hasRemaining()) {
          dst.put((byte) 0);
        }
        return;
      }
      pos += r;
    }
  }

  /** A snapshot of the mapping as a sorted index (entries split at the format's length limit). */
  public SegmentIndex index() {
    return map.index();
  }

  /** Number of entries in the index log (including overridden ones). */
  public long logEntries() {
    synchronized (appendLock) {
      return entries;
    }
  }

  /**
   * Seals the layer in place, as {@code overlaybd-commit --seal} does: the sorted index and a
   * trailer are appended to the data file, which then opens as a read-only layer (upstream renames
   * it {@code overlaybd.sealed}); the index file is no longer needed. The layer is closed
   * afterwards.
   */
  public void seal() throws IOException {
    synchronized (appendLock) {
      ensureOpen("seal");
      SegmentIndex sorted = index();
      long at = roundUp512(dataEnd.get());
      ByteBuffer entriesBuf =
          ByteBuffer.allocate((int) roundUp512(16L * sorted.size())).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < sorted.size(); i++) {
        entriesBuf.putLong(sorted.rawLow(i)).putLong(sorted.rawHigh(i));
      }
      entriesBuf.clear();
      writeFully(data, entriesBuf, at);
      LsmtHeader trailer = dataHeader.with(LsmtHeader.TRAILER, at, sorted.size());
      writeFully(data, ByteBuffer.wrap(trailer.toBlock()), at + entriesBuf.capacity());
      data.force(true);
      index.force(true);
      close();
    }
  }

  /**
   * Compacts the layer into a committed layer written to {@code out} (a file or a ZFile writer), as
   * {@code overlaybd-commit} does: data entries copied in order, zeroed entries kept.
   *
   * @param uuid the committed layer's uuid
   * @param parent its parent uuid; null keeps this layer's parent
   * @return bytes written
   */
  public long commit(WritableByteChannel out, LayerUuid uuid, LayerUuid parent, byte[] userTag)
      throws IOException {
    ensureOpen("commit");
    SegmentIndex sorted = index();
    CommittedLayerWriter w =
        CommittedLayerWriter.start(
            out, virtualSize(), uuid, parent == null ? dataHeader.parentUuid() : parent, userTag);
    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
    for (int i = 0; i < sorted.size(); i++) {
      if (sorted.zeroed(i)) {
        w.writeZeroed(sorted.offset(i), sorted.length(i));
        continue;
      }
      long sector = sorted.offset(i);
      long m = sorted.moffset(i);
      for (long left = sorted.length(i); left > 0; ) {
        int n = (int) Math.min(left, buf.capacity() / 512);
        buf.clear().limit(n * 512);
        readStored(m * 512, buf);
        buf.flip();
        w.writeData(sector, buf);
        sector += n;
        m += n;
        left -= n;
      }
    }
    return w.finish();
  }

  @Override
  public void close() throws IOException {
    synchronized (appendLock) {
      if (!open) {
        return;
      }
      open = false;
      try {
        data.close();
      } finally {
        index.close();
      }
    }
  }

  private void append(ExtentMap.Extent e) throws IOException {
    synchronized (appendLock) {
      ensureOpen("append to");
      if (entries >= MAX_INDEX_ENTRIES) {
        throw new IOException(
            "append to writable layer index " + indexPath + ": the log is full (" + entries + ")");
      }
      Segment s = new Segment(e.start(), (int) (e.end() - e.start()), e.moffset(), e.zeroed(), 0);
      ByteBuffer entry = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
      entry.putLong(s.packedLow()).putLong(s.packedHigh()).flip();
      writeFully(index, entry, indexEnd);
      indexEnd += 16;
      entries++;
      map.put(e);
    }
  }

  private void checkRange(String what, long offset, long length) throws IOException {
    ensureOpen(what);
    if (offset % 512 != 0 || length % 512 != 0 || offset < 0 || length < 0) {
      throw new IllegalArgumentException(
          what + " of " + length + " bytes at offset " + offset + ": not 512-byte aligned");
    }
    long vsize = dataHeader.virtualSize();
    if (vsize > 0 && offset + length > vsize) {
      throw new IllegalArgumentException(
          what
              + " of "
              + length
              + " bytes at offset "
              + offset
              + ": beyond the virtual size "
              + vsize);
    }
  }

  private void ensureOpen(String what) throws IOException {
    if (!open) {
      throw new IOException(what + " writable layer " + dataPath + ": it is closed or sealed");
    }
  }

  private static boolean isSealed(ReopeningChannel d) throws IOException {
    long size = d.size();
    if (size < 2L * LsmtHeader.SIZE) {
      return false;
    }
    byte[] b = new byte[LsmtHeader.SIZE];
    readFully(d, ByteBuffer.wrap(b), size - LsmtHeader.SIZE);
    return LsmtHeader.hasMagic(b) && !LsmtHeader.parse(b).isHeader();
  }

  private static LsmtHeader readHeader(ReopeningChannel ch, Path path, String what)
      throws IOException {
    if (ch.size() < LsmtHeader.SIZE) {
      throw new LayerFormatException(
          "open writable layer " + what + " file " + path + ": shorter than its 4096-byte header");
    }
    byte[] b = new byte[LsmtHeader.SIZE];
    readFully(ch, ByteBuffer.wrap(b), 0);
    if (!LsmtHeader.hasMagic(b)) {
      throw new LayerFormatException(
          "open writable layer " + what + " file " + path + " at offset 0: bad magic");
    }
    return LsmtHeader.parse(b);
  }

  private static void readFully(ReopeningChannel ch, ByteBuffer dst, long position)
      throws IOException {
    long pos = position;
    while (dst.hasRemaining()) {
      int r = ch.read(dst, pos);
      if (r < 0) {
        throw new java.io.EOFException("read at offset " + pos + ": end of file");
      }
      pos += r;
    }
  }

  private static void writeFully(ReopeningChannel ch, ByteBuffer src, long position)
      throws IOException {
    long pos = position;
    while (src.hasRemaining()) {
      pos += ch.write(src, pos);
    }
  }

  private static long roundUp512(long n) {
    return (n + 511) & ~511L;
  }

  private static void closeQuietly(Closeable c, Exception primary) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException e) {
      primary.addSuppressed(e);
    }
  }
}
