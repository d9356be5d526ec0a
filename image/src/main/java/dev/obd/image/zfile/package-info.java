/**
 * ZFile, the seekable compressed wrapper of LSMT files: reader with per-block CRC checks and writer
 * with LZ4 or zstd blocks, as {@code overlaybd-commit -z} writes them.
 */
package dev.obd.image.zfile;
