package dev.obd.image.convert;

import com.github.luben.zstd.ZstdInputStream;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Opens an OCI layer blob as an uncompressed tar stream, recognising gzip, zstd and plain tar by
 * their magic bytes rather than trusting the media type.
 */
final class LayerStreams {
  private LayerStreams() {}

  static InputStream open(Path blob) throws IOException {
    InputStream raw = new BufferedInputStream(Files.newInputStream(blob), 1 << 16);
    try {
      raw.mark(4);
      byte[] magic = raw.readNBytes(4);
      raw.reset();
      if (magic.length >= 2 && (magic[0] & 0xFF) == 0x1F && (magic[1] & 0xFF) == 0x8B) {
        return new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16);
      }
      if (magic.length == 4
          && (magic[0] & 0xFF) == 0x28
          && (magic[1] & 0xFF) == 0xB5
          && (magic[2] & 0xFF) == 0x2F
          && (magic[3] & 0xFF) == 0xFD) {
        return new BufferedInputStream(new ZstdInputStream(raw), 1 << 16);
      }
      return raw;
    } catch (IOException | RuntimeException e) {
      raw.close();
      throw e;
    }
  }
}
