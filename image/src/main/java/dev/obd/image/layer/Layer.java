package dev.obd.image.layer;

import dev.obd.image.ByteSource;
import dev.obd.image.lsmt.LsmtFile;
import dev.obd.image.lsmt.LsmtHeader;
import dev.obd.image.lsmt.SegmentIndex;
import dev.obd.image.tar.TarWrapper;
import dev.obd.image.zfile.ZFileReader;
import java.io.Closeable;
import java.io.IOException;
import java.util.Optional;

/**
 * An opened read-only layer: the blob it came from, the wrappers peeled off it (tar, ZFile) and the
 * LSMT file inside. Immutable and thread-safe; data entries are read from {@link #data()}. Closing
 * the layer closes the blob source it was opened from.
 */
public final class Layer implements Closeable {
  private final ByteSource blob;
  private final Optional<TarWrapper> tar;
  private final Optional<ZFileReader> zfile;
  private final LsmtFile lsmt;

  Layer(ByteSource blob, Optional<TarWrapper> tar, Optional<ZFileReader> zfile, LsmtFile lsmt) {
    this.blob = blob;
    this.tar = tar;
    this.zfile = zfile;
    this.lsmt = lsmt;
  }

  /** What the layer was opened from, for messages. */
  public String describe() {
    return blob.describe();
  }

  /** The source the layer was opened from (the whole blob). */
  public ByteSource blob() {
    return blob;
  }

  /** The tar wrapper, when the blob had one. */
  public Optional<TarWrapper> tar() {
    return tar;
  }

  /** The ZFile, when the layer is compressed. */
  public Optional<ZFileReader> zfile() {
    return zfile;
  }

  /** The LSMT file: header, trailer, index. */
  public LsmtFile lsmt() {
    return lsmt;
  }

  /** The layer's entries (tags 0). */
  public SegmentIndex index() {
    return lsmt.index();
  }

  /** The trailer, which carries the layer's metadata. */
  public LsmtHeader trailer() {
    return lsmt.trailer();
  }

  /** The virtual size the layer declares. */
  public long virtualSize() {
    return lsmt.virtualSize();
  }

  /** The uncompressed LSMT file bytes; a data entry's moffset is a sector offset in here. */
  public ByteSource data() {
    return lsmt.source();
  }

  @Override
  public void close() throws IOException {
    blob.close();
  }
}
