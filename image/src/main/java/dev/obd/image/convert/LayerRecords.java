package dev.obd.image.convert;

import dev.obd.image.oci.Digest;
import java.io.IOException;
import java.util.List;

/**
 * What earlier conversions made: for a source layer chain (its chain ID) converted with some
 * options, the OverlayBD layer blob and where it was stored. A conversion takes a record only after
 * the target has confirmed it holds the blob (or has mounted it from the record's repository), so a
 * stale record costs a request, never a wrong image. The official convertor keeps the same mapping
 * in MySQL.
 */
public interface LayerRecords extends AutoCloseable {
  /**
   * One layer made before.
   *
   * @param chainId the source layer's chain ID
   * @param options what else decides the layer's bytes ({@link Converter.Options#reuseKey})
   * @param location where it was stored ({@link dev.obd.image.oci.ImageTarget#location})
   * @param digest the OverlayBD layer blob's digest
   * @param size its size in bytes
   */
  record Made(Digest chainId, String options, String location, Digest digest, long size) {}

  /** The records for {@code chainId} and {@code options}, those stored at {@code near} first. */
  List<Made> find(Digest chainId, String options, String near) throws IOException;

  /** Keeps {@code made}, replacing a record of the same chain, options and location. */
  void remember(Made made) throws IOException;

  @Override
  void close() throws IOException;

  /** No records: every layer is converted. */
  static LayerRecords none() {
    return new LayerRecords() {
      @Override
      public List<Made> find(Digest chainId, String options, String near) {
        return List.of();
      }

      @Override
      public void remember(Made made) {}

      @Override
      public void close() {}
    };
  }
}
