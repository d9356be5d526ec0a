package dev.obd.image.build;

import dev.obd.image.zfile.Compression;
import dev.obd.image.zfile.ZFileOptions;
import java.util.Optional;

/**
 * How a committed LSMT layer is packaged into a blob.
 *
 * @param zfile ZFile compression, or empty for a raw LSMT file
 * @param tar whether to wrap the result in the PAX tar that registries get
 */
public record BlobFormat(Optional<ZFileOptions> zfile, boolean tar) {
  public BlobFormat {
    zfile = zfile == null ? Optional.empty() : zfile;
  }

  /** What the official convertor produces: tar(PAX) of ZFile(LZ4, 4 KiB blocks, CRCs). */
  public static BlobFormat official() {
    return new BlobFormat(Optional.of(ZFileOptions.defaults()), true);
  }

  /** The official packaging with another compression. */
  public static BlobFormat official(Compression compression) {
    return new BlobFormat(Optional.of(ZFileOptions.of(compression)), true);
  }

  /** A plain {@code overlaybd.commit} file without compression or tar. */
  public static BlobFormat rawLsmt() {
    return new BlobFormat(Optional.empty(), false);
  }
}
