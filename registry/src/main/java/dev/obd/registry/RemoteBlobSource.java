package dev.obd.registry;

import dev.obd.image.ByteSource;
import dev.obd.registry.cache.RangeCache;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A registry blob as random-access bytes, read through the persistent range cache: only the chunks
 * a reader touches are fetched. Thread-safe.
 */
public final class RemoteBlobSource implements ByteSource {
  private final BlobUrl blob;
  private final long size;
  private final RegistryClient client;
  private final RangeCache cache;

  private RemoteBlobSource(BlobUrl blob, long size, RegistryClient client, RangeCache cache) {
    this.blob = blob;
    this.size = size;
    this.client = client;
    this.cache = cache;
  }

  /**
   * Opens the blob. When {@code knownSize} is positive (config {@code lowers[].size}) the registry
   * is not asked for it.
   */
  public static RemoteBlobSource open(
      BlobUrl blob, long knownSize, RegistryClient client, RangeCache cache) throws IOException {
    long size = knownSize > 0 ? knownSize : client.size(blob);
    return new RemoteBlobSource(blob, size, client, cache);
  }

  public BlobUrl blob() {
    return blob;
  }

  @Override
  public long size() {
    return size;
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    if (position < 0 || position + dst.remaining() > size) {
      throw new EOFException(
          "read of "
              + dst.remaining()
              + " bytes at "
              + position
              + " past the end of "
              + describe());
    }
    cache.read(blob.hex(), size, position, dst, (off, len) -> client.read(blob, off, len));
  }

  /**
   * Forgets the cached copy of bytes {@code [position, position + length)} so that the next read
   * fetches them from the registry again; for bytes that failed a check of the layer format.
   */
  public void discard(long position, long length) {
    cache.discard(blob.hex(), size, position, length);
  }

  /** Forgets every cached byte of the blob. */
  public void discardAll() {
    cache.discardBlob(blob.hex());
  }

  @Override
  public String describe() {
    return blob.describe();
  }

  @Override
  public void close() {}
}
