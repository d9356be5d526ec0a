package dev.obd.image.zfile;

/**
 * How a ZFile is written. The defaults are what {@code overlaybd-commit -z} and the convertor
 * write: LZ4, 4 KiB blocks, a CRC after every block, header rewritten at the end.
 *
 * @param compression block compression
 * @param blockSize uncompressed block size: a power of two from 4 KiB to 64 KiB
 * @param blockCrc whether every block is followed by its CRC (the {@code verify} byte)
 * @param rewriteHeader whether the header is rewritten with the final index fields; without it
 *     readers take them from the trailer, as for a file streamed to a registry
 */
public record ZFileOptions(
    Compression compression, int blockSize, boolean blockCrc, boolean rewriteHeader) {

  public ZFileOptions {
    if (compression == null) {
      throw new IllegalArgumentException("compression is required");
    }
    if (blockSize < 4096 || blockSize > 65536 || Integer.bitCount(blockSize) != 1) {
      throw new IllegalArgumentException(
          "ZFile block size must be a power of two from 4096 to 65536, got " + blockSize);
    }
  }

  /** LZ4, 4 KiB blocks, CRCs, header rewrite. */
  public static ZFileOptions defaults() {
    return new ZFileOptions(Compression.LZ4, 4096, true, true);
  }

  /** The defaults with another compression. */
  public static ZFileOptions of(Compression compression) {
    return new ZFileOptions(compression, 4096, true, true);
  }
}
