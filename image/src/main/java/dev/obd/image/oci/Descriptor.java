package dev.obd.image.oci;

import java.util.Map;
import java.util.TreeMap;

/**
 * An OCI content descriptor (the fields the converter uses).
 *
 * @param mediaType the content's media type
 * @param digest its digest
 * @param size its size in bytes
 * @param annotations annotations, sorted by key as Go's encoder writes them
 */
public record Descriptor(
    String mediaType, Digest digest, long size, Map<String, String> annotations) {
  public Descriptor {
    if (mediaType == null || mediaType.isEmpty()) {
      throw new IllegalArgumentException("a descriptor needs a media type");
    }
    if (digest == null) {
      throw new IllegalArgumentException("a descriptor needs a digest");
    }
    if (size < 0) {
      throw new IllegalArgumentException("descriptor size " + size + " is negative");
    }
    annotations =
        annotations == null
            ? Map.of()
            : java.util.Collections.unmodifiableMap(new TreeMap<>(annotations));
  }

  public Descriptor(String mediaType, Digest digest, long size) {
    this(mediaType, digest, size, Map.of());
  }
}
