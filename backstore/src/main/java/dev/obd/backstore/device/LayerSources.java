package dev.obd.backstore.device;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.LowerConfig;
import dev.obd.registry.BlobUrl;
import dev.obd.registry.RegistryClient;
import dev.obd.registry.RemoteBlobSource;
import dev.obd.registry.cache.RangeCache;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Finds the bytes of one lower layer the way overlaybd-tcmu does: its local file ({@link
 * LowerConfig#resolveLocalFile}), else the registry blob {@code repoBlobUrl/digest} through the
 * range cache.
 */
final class LayerSources {

  private final RegistryClient registry;
  private final RangeCache cache;

  LayerSources(RegistryClient registry, RangeCache cache) {
    this.registry = registry;
    this.cache = cache;
  }

  /** Opens the layer's bytes; a remote layer also reports its blob address. */
  Opened open(ImageConfig config, int index) throws IOException {
    LowerConfig lower = config.lowers().get(index);
    Optional<Path> local = lower.resolveLocalFile();
    if (local.isPresent()) {
      return new Opened(FileByteSource.open(local.get()), null);
    }
    if (lower.digest().isEmpty()) {
      throw new IOException(
          "lowers["
              + index
              + "]: no local layer file"
              + (lower.dir().isEmpty() ? "" : " in " + lower.dir())
              + " and no digest to fetch");
    }
    BlobUrl blob;
    try {
      blob = BlobUrl.of(config.repoBlobUrl(), lower.digest());
    } catch (IllegalArgumentException e) {
      throw new IOException("lowers[" + index + "]: " + e.getMessage(), e);
    }
    RemoteBlobSource remote = RemoteBlobSource.open(blob, lower.size(), registry, cache);
    return new Opened(remote, remote);
  }

  /** A layer's bytes and, for a remote layer, the same bytes as a registry blob (else null). */
  record Opened(ByteSource source, RemoteBlobSource remote) {}
}
