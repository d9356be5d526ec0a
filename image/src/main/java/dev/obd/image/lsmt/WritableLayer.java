package dev.obd.image.lsmt;

import dev.obd.image.LayerFormatException;
import dev.obd.image.sys.Posix;
import java.io.Closeable;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.StampedLock;

/**
 * The writable layer of overlaybd ({@code writable_data} + {@code writable_index}, or {@code
 * upper.data} / {@code upper.index} in config.v1.json), in either of its two on-disk forms:
 *
 * <ul>
 *   <li><b>append-only</b> ({@link #create}, header flags 0x03): every write appends its bytes to
 *       the data file and a 16-byte entry to the index log; a trim appends a zeroed entry. Opening
 *       replays the log in order, a later entry overriding the overlapped parts of earlier ones.
 *   <li><b>sparse</b> ({@link #createSparse}, {@code overlaybd-create -s}, header flags 0x13): the
 *       data file is as large as the disk plus its header and virtual byte X lives at file byte
 *       4096 + X; writes go in place, a trim punches a hole, and the index file is not used.
 *       Opening rebuilds the mapping from the file's data extents ({@code SEEK_DATA}/{@code
 *       SEEK_HOLE}), as overlaybd does, so its granularity is the file system's block: a 512-byte
 *       write maps its whole block after a reopen (the rest of it reading as zeros), and a trimmed
 *       range hides the lowers only until the layer is reopened, after which a punched block is a
 *       hole again and the lower data shows through (upstream behaves the same). The file system
 *       must support holes: on one that does not, the whole disk reads as this layer's data.
 * </ul>
 *
 * {@link #open} tells the two apart by the data file's header. {@link #seal()} turns the data file
 * into a read-only {@code overlaybd.sealed} layer; {@link #commit} compacts it into a committed
 * layer; both write the same format from either form.
 *
 * <p>Thread-safe. Writers write data concurrently and serialise only the log append and map update;
 * readers look the mapping up optimistically (a {@link StampedLock} read that retries only when a
 * write raced with it), so reads never wait for each other. All offsets and lengths must be
 * multiples of 512. The layer owns its files and closes them.
 */
public final class WritableLayer implements Closeable {
  /** Upstream's limit on entries in a writable index log. */
  public static final long MAX_INDEX_ENTRIES = 128_000_000;

  /** Longest range one log entry covers (upstream splits larger I/O into 4 MiB pieces). */
  static final int MAX_ENTRY_BYTES = 4 << 20;

  private static final int DATA_HEADER_FLAGS = LsmtHeader.FLAG_HEADER | LsmtHeader.FLAG_DATA_FILE;
  private static final int SPARSE_DATA_HEADER_FLAGS = DATA_HEADER_FLAGS | LsmtHeader.FLAG_SPARSE_RW;
  private static final int INDEX_HEADER_FLAGS = LsmtHeader.FLAG_HEADER;

  /** Sectors of the sparse data file's header: virtual sector s lives at file sector s + 8. */
  private static final long SPARSE_HEADER_SECTORS = LsmtHeader.SIZE / 512;

  private final Path dataPath;
  private final Path indexPath;
  private final ReopeningChannel data;
  private final ReopeningChannel index; // null for a sparse layer, which has no log
  private final boolean sparse;
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
    this.sparse = header.isSparse();
    this.dataEnd = new AtomicLong(roundUp512(data.size()));
    long indexSize = index == null ? LsmtHeader.SIZE : index.size();
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
    return create(dataPath, indexPath, virtualSize, uuid, parent, false);
  }

  /**
   * Creates a new sparse writable layer, as {@code overlaybd-create -s} does: the data file is
   * {@code virtualSize + 4096} bytes, all hole but its header. The index file is written with its
   * header, as upstream writes it, but never used; both files must not exist yet.
   *
   * @param virtualSize size of the virtual disk in bytes (a multiple of 512), or 0 to take the
   *     lowers' size when stacked
   * @param uuid this layer's uuid
   * @param parent the top lower layer's uuid, or {@link LayerUuid#NIL}
   */
  public static WritableLayer createSparse(
      Path dataPath, Path indexPath, long virtualSize, LayerUuid uuid, LayerUuid parent)
      throws IOException {
    return create(dataPath, indexPath, virtualSize, uuid, parent, true);
  }

  private static WritableLayer create(
      Path dataPath,
      Path indexPath,
      long virtualSize,
      LayerUuid uuid,
      LayerUuid parent,
      boolean sparse)
      throws IOException {
    if (virtualSize < 0 || virtualSize % 512 != 0) {
      throw new IllegalArgumentException(
          "virtual size " + virtualSize + " is not a non-negative multiple of 512");
    }
    LsmtHeader dh =
        LsmtHeader.create(
            sparse ? SPARSE_DATA_HEADER_FLAGS : DATA_HEADER_FLAGS, virtualSize, uuid, parent, null);
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
      if (sparse) {
        setLength(dataPath, LsmtHeader.SIZE + virtualSize);
      }
      d.force(true);
      i.force(true);
      if (sparse) {
        i.close();
        i = null;
      }
      return new WritableLayer(dataPath, indexPath, d, i, dh);
    } catch (IOException | RuntimeException e) {
      closeQuietly(d, e);
      closeQuietly(i, e);
      throw e;
    }
  }

  /**
   * Opens an existing writable layer of either form: an append-only one replays its index log, a
   * sparse one (header flag SPARSE_RW) rebuilds its mapping from the data file's extents and
   * ignores {@code indexPath}, which need not exist.
   *
   * @throws LayerFormatException when a file is not what it should be
   */
  public static WritableLayer open(Path dataPath, Path indexPath) throws IOException {
    ReopeningChannel d = null;
    ReopeningChannel i = null;
    try {
      d = ReopeningChannel.open(dataPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
      LsmtHeader dh = readHeader(d, dataPath, "data");
      if (!dh.isHeader() || !dh.isDataFile()) {
        throw new LayerFormatException(
            "open writable layer data file "
                + dataPath
                + ": flags 0x"
                + Integer.toHexString(dh.flags())
                + " are not those of a data file header");
      }
      if (isSealed(d)) {
        throw new LayerFormatException(
            "open writable layer data file "
                + dataPath
                + ": it is sealed (has a trailer); open it as a read-only layer");
      }
      if (dh.isSparse()) {
        WritableLayer layer = new WritableLayer(dataPath, indexPath, d, null, dh);
        layer.rebuildSparseMapping();
        return layer;
      }
      i = ReopeningChannel.open(indexPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
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

  /**
   * Maps every data extent of the sparse data file past its header, in pieces of at most {@link
   * Segment#MAX_LENGTH} sectors as upstream does; the header's virtual size bounds the mapping.
   */
  private void rebuildSparseMapping() throws IOException {
    long size = data.size();
    long vsize = dataHeader.virtualSize();
    long endSector = vsize > 0 ? SPARSE_HEADER_SECTORS + vsize / 512 : roundUp512(size) / 512;
    for (Posix.Extent e : Posix.dataExtents(dataPath, size)) {
      long start = Math.max(e.start() / 512, SPARSE_HEADER_SECTORS);
      long end = Math.min(roundUp512(e.end()) / 512, endSector);
      for (long s = start; s < end; ) {
        long n = Math.min(end - s, Segment.MAX_LENGTH);
        map.put(
            new ExtentMap.Extent(
                s - SPARSE_HEADER_SECTORS, s - SPARSE_HEADER_SECTORS + n, s, false));
        s += n;
      }
    }
  }

  /**
   * Whether this is a sparse layer ({@code overlaybd-create -s}) rather than an append-only one.
   */
  public boolean isSparse() {
    return sparse;
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
   * Sets the virtual size of a layer created with size 0 and persists it into both headers (a
   * sparse layer: into its data header, growing the data file to cover the disk), as overlaybd does
   * when it stacks such a layer on lowers. No-op when the size is already set.
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
      if (sparse) {
        writeFully(data, ByteBuffer.wrap(updated.toBlock()), 0);
        if (data.size() < LsmtHeader.SIZE + size) {
          setLength(dataPath, LsmtHeader.SIZE + size);
        }
        dataHeader = updated;
        return;
      }
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
    if (sparse) {
      long sectors = src.remaining() / 512;
      writeFully(data, src, LsmtHeader.SIZE + offset);
      publish(
          new ExtentMap.Extent(
              offset / 512, offset / 512 + sectors, offset / 512 + SPARSE_HEADER_SECTORS, false));
      return;
    }
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

  /**
   * Makes {@code length} bytes from {@code offset} read as zeros, hiding lower layers. A sparse
   * layer punches a hole, so after a reopen the lowers show through again (see the class comment).
   */
  public void trim(long offset, long length) throws IOException {
    checkRange("trim", offset, length);
    if (sparse) {
      if (length == 0) {
        return;
      }
      Posix.punchHole(dataPath, LsmtHeader.SIZE + offset, length);
      publish(
          new ExtentMap.Extent(
              offset / 512, (offset + length) / 512, offset / 512 + SPARSE_HEADER_SECTORS, true));
      return;
    }
    for (long off = offset, left = length; left > 0; ) {
      long n = Math.min(left, MAX_ENTRY_BYTES);
      append(new ExtentMap.Extent(off / 512, (off + n) / 512, dataEnd.get() / 512, true));
      off += n;
      left -= n;
    }
  }

  /**
   * Makes completed writes and trims durable (data first, then the index log; a sparse layer has
   * only its data file): {@code fdatasync}.
   */
  public void flush() throws IOException {
    ensureOpen("flush");
    data.force(false);
    if (index != null) {
      index.force(false);
    }
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

  /** Number of entries in the index log (including overridden ones); 0 for a sparse layer. */
  public long logEntries() {
    synchronized (appendLock) {
      return entries;
    }
  }

  /**
   * Seals the layer in place, as {@code overlaybd-commit --seal} does: the sorted index and a
   * trailer are appended to the data file, which then opens as a read-only layer (upstream renames
   * it {@code overlaybd.sealed}); the index file is no longer needed. A sparse layer keeps its
   * header (0x13) and gets trailer flags 0x16, as upstream's. The layer is closed afterwards.
   */
  public void seal() throws IOException {
    synchronized (appendLock) {
      ensureOpen("seal");
      SegmentIndex sorted = index();
      long at = roundUp512(sparse ? data.size() : dataEnd.get());
      ByteBuffer entriesBuf =
          ByteBuffer.allocate((int) roundUp512(16L * sorted.size())).order(ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < sorted.size(); i++) {
        entriesBuf.putLong(sorted.rawLow(i)).putLong(sorted.rawHigh(i));
      }
      entriesBuf.clear();
      writeFully(data, entriesBuf, at);
      int trailerFlags = LsmtHeader.TRAILER | (sparse ? LsmtHeader.FLAG_SPARSE_RW : 0);
      LsmtHeader trailer = dataHeader.with(trailerFlags, at, sorted.size());
      writeFully(data, ByteBuffer.wrap(trailer.toBlock()), at + entriesBuf.capacity());
      data.force(true);
      if (index != null) {
        index.force(true);
      }
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
        if (index != null) {
          index.close();
        }
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

  /** Makes a sparse layer's in-place write or punched hole visible to lookups. */
  private void publish(ExtentMap.Extent e) throws IOException {
    synchronized (appendLock) {
      ensureOpen("write to");
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

  /** Sets a file's size; growing it leaves a hole (the JDK's channels cannot grow a file). */
  private static void setLength(Path path, long size) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
      f.setLength(size);
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
