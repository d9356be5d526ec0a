package dev.obd.image.layer;

import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.lsmt.LsmtFile;
import dev.obd.image.tar.TarWrapper;
import dev.obd.image.zfile.ZFileReader;
import java.io.IOException;
import java.util.Optional;

/**
 * Opens any read-only OverlayBD layer the official tools produce, peeling its wrappers the way
 * overlaybd-tcmu does: an optional tar wrapper (PAX or ustar), then an optional ZFile (LZ4 or
 * zstd), then the LSMT file (committed or sealed). Works on any {@link ByteSource}, local or
 * remote; it reads only headers, trailers and indexes while opening.
 */
public final class LayerReader {
  private LayerReader() {}

  /**
   * What the LSMT file of a layer is read through once its wrappers are peeled: the backstore puts
   * its refetching and its I/O trace recording there.
   */
  @FunctionalInterface
  public interface LsmtSource {
    /**
     * The source to read the LSMT file from instead of {@code peeled}.
     *
     * @param peeled the blob's content inside its tar wrapper and ZFile, if any
     * @param tar the tar wrapper peeled off, if there was one
     * @param zfile the ZFile peeled off ({@code peeled} itself), if there was one
     */
    ByteSource wrap(ByteSource peeled, Optional<TarWrapper> tar, Optional<ZFileReader> zfile)
        throws IOException;
  }

  /**
   * Opens the layer in {@code blob}. The returned layer owns {@code blob}; when opening fails the
   * blob is left open for the caller to close.
   *
   * @throws LayerFormatException naming the blob and the offset when it is not a valid layer
   */
  public static Layer open(ByteSource blob) throws IOException {
    return open(blob, (peeled, tar, zfile) -> peeled);
  }

  /**
   * As {@link #open(ByteSource)}, reading the LSMT file (its header and index too) through what
   * {@code lsmtSource} makes of the peeled content.
   */
  public static Layer open(ByteSource blob, LsmtSource lsmtSource) throws IOException {
    Optional<TarWrapper> tar = TarWrapper.detect(blob);
    ByteSource inner = tar.isPresent() ? tar.get().payload(blob) : blob;
    Optional<ZFileReader> zfile = Optional.empty();
    if (ZFileReader.detect(inner)) {
      ZFileReader z = ZFileReader.open(inner);
      zfile = Optional.of(z);
      inner = z;
    }
    inner = lsmtSource.wrap(inner, tar, zfile);
    if (!LsmtFile.detect(inner)) {
      throw new LayerFormatException(
          "open layer "
              + blob.describe()
              + ": no LSMT header at offset 0 of "
              + (zfile.isPresent()
                  ? "the decompressed ZFile"
                  : tar.isPresent() ? "the tar payload" : "the blob")
              + " (wrappers found: "
              + (tar.isPresent() ? "tar " + tar.get().kind() : "none")
              + (zfile.isPresent() ? ", ZFile" : "")
              + ")");
    }
    return new Layer(blob, tar, zfile, LsmtFile.open(inner));
  }
}
