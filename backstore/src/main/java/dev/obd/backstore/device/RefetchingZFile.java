package dev.obd.backstore.device;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.zfile.ZFileReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.logging.Logger;

/**
 * The uncompressed view of a remote layer's ZFile, for bytes that arrive through the range cache.
 * The cache checks that bytes are as they arrived, not that they arrived right: a byte flipped on
 * the way is stored with a matching page checksum. The ZFile block CRCs catch it when the block is
 * decoded; this reader then makes the cache forget the compressed range of the blocks read and
 * reads once more, so a damaged answer costs one refetch and never poisons the cache. If the bytes
 * are still bad the read fails ({@link LayerFormatException}, EIO for the NBD client) and the range
 * is forgotten again, so a later read fetches it afresh. Wrong bytes are never returned: a block is
 * either CRC-checked or the read fails.
 *
 * <p>Thread-safe, as the reader and cache under it.
 */
final class RefetchingZFile implements ByteSource {
  private static final Logger LOG = Logger.getLogger(RefetchingZFile.class.getName());

  /** Forgets the cached copy of a range of the layer blob (in the blob's coordinates). */
  @FunctionalInterface
  interface Discarder {
    void discard(long position, long length);
  }

  private final ZFileReader zfile;
  private final long offsetInBlob;
  private final Discarder cache;

  /**
   * @param offsetInBlob where the ZFile starts in the blob (after a tar header)
   */
  RefetchingZFile(ZFileReader zfile, long offsetInBlob, Discarder cache) {
    this.zfile = zfile;
    this.offsetInBlob = offsetInBlob;
    this.cache = cache;
  }

  @Override
  public long size() {
    return zfile.size();
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    int start = dst.position();
    try {
      zfile.readFully(position, dst);
    } catch (LayerFormatException first) {
      LOG.warning(first.getMessage() + "; fetching the range again");
      forget(position, dst.limit() - start);
      dst.position(start);
      try {
        zfile.readFully(position, dst);
      } catch (LayerFormatException again) {
        forget(position, dst.limit() - start);
        LayerFormatException e =
            new LayerFormatException(again.getMessage() + " (also after fetching it again)", again);
        e.addSuppressed(first);
        throw e;
      }
    }
  }

  /** Makes the cache forget the compressed bytes of the blocks holding {@code [pos, pos+n)}. */
  private void forget(long position, int length) {
    long first = position / zfile.blockSize();
    long last = (position + Math.max(1, length) - 1) / zfile.blockSize();
    long from = zfile.blockOffset((int) first);
    long to = zfile.blockOffset((int) last) + zfile.storedLength((int) last);
    cache.discard(offsetInBlob + from, to - from);
  }

  @Override
  public String describe() {
    return zfile.describe();
  }

  @Override
  public void close() throws IOException {
    zfile.close();
  }
}
