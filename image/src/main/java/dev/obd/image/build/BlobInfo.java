package dev.obd.image.build;

import java.nio.file.Path;

/**
 * A layer blob that was written.
 *
 * @param path where it is
 * @param digest {@code sha256:<hex>} of the whole blob (its OCI digest and, for OverlayBD, its
 *     diffID)
 * @param size bytes of the blob
 * @param entries index entries of the LSMT layer (before padding)
 * @param dataBytes bytes of data stored in the layer (uncompressed)
 */
public record BlobInfo(Path path, String digest, long size, int entries, long dataBytes) {}
