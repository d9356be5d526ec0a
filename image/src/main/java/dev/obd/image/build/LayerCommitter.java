package dev.obd.image.build;

import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.CommittedLayerWriter;
import dev.obd.image.lsmt.LayerUuid;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;

/**
 * Commits a raw disk image as an OverlayBD layer blob: a bottom layer holding every non-zero 4 KiB
 * block, or, over a lower stack, a diff layer holding the blocks that changed (those that became
 * zero as zeroed entries; unchanged ones are holes and inherit). The result reads back, stacked on
 * the same lowers, exactly like the image.
 */
public final class LayerCommitter {
  private static final int CHUNK = 1 << 20;

  private LayerCommitter() {}

  /**
   * What to write.
   *
   * @param format packaging (the official tar(ZFile) by default)
   * @param uuid the layer's uuid ({@link LayerUuid#fromChainId} for converted images)
   * @param parentUuid the parent's uuid; empty takes the top lower layer's uuid (nil without one)
   * @param userTag commit message, at most 256 bytes
   * @param virtualSize disk size in bytes; 0 = the image size rounded up to 512, or the lower
   *     stack's size when larger
   */
  public record Options(
      BlobFormat format,
      LayerUuid uuid,
      Optional<LayerUuid> parentUuid,
      String userTag,
      long virtualSize) {
    public Options {
      format = format == null ? BlobFormat.official() : format;
      uuid = uuid == null ? LayerUuid.NIL : uuid;
      parentUuid = parentUuid == null ? Optional.empty() : parentUuid;
      userTag = userTag == null ? "" : userTag;
      if (userTag.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 256) {
        throw new IllegalArgumentException("commit message longer than 256 bytes");
      }
      if (virtualSize < 0 || virtualSize % 512 != 0) {
        throw new IllegalArgumentException(
            "virtual size " + virtualSize + " is not a non-negative multiple of 512");
      }
    }

    /** Official packaging, the given uuid, everything else derived. */
    public static Options of(LayerUuid uuid) {
      return new Options(BlobFormat.official(), uuid, Optional.empty(), "", 0);
    }

    public Options withFormat(BlobFormat f) {
      return new Options(f, uuid, parentUuid, userTag, virtualSize);
    }

    public Options withParentUuid(LayerUuid parent) {
      return new Options(format, uuid, Optional.of(parent), userTag, virtualSize);
    }

    public Options withVirtualSize(long size) {
      return new Options(format, uuid, parentUuid, userTag, size);
    }
  }

  /**
   * Writes the layer for {@code image} over {@code lower} (empty for a bottom layer) to {@code
   * target}.
   */
  public static BlobInfo commit(
      Path image, Optional<LayerStack> lower, Path target, Options options) throws IOException {
    try (FileChannel in = FileChannel.open(image, StandardOpenOption.READ)) {
      long imageSize = in.size();
      long vsize = options.virtualSize();
      long rounded = (imageSize + 511) / 512 * 512;
      if (vsize == 0) {
        vsize = Math.max(rounded, lower.map(LayerStack::size).orElse(0L));
      } else if (vsize < rounded) {
        throw new IllegalArgumentException(
            "commit "
                + image
                + ": the image ("
                + imageSize
                + " bytes) is larger than the virtual size "
                + vsize);
      }
      List<DiffScanner.Run> runs = DiffScanner.scan(image, in, imageSize, vsize, lower);
      runs = DiffScanner.coalesce(runs, CommittedLayerWriter.MAX_ENTRIES);
      LayerUuid parent = options.parentUuid().orElseGet(() -> topUuid(lower));
      try (LayerBlobWriter out =
          LayerBlobWriter.create(
              target,
              options.format(),
              vsize,
              options.uuid(),
              parent,
              options.userTag().getBytes(java.nio.charset.StandardCharsets.UTF_8))) {
        CommittedLayerWriter w = out.lsmt();
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        for (DiffScanner.Run r : runs) {
          if (r.zeroed()) {
            w.writeZeroed(r.start() / 512, (r.end() - r.start()) / 512);
            continue;
          }
          for (long pos = r.start(); pos < r.end(); ) {
            int n = (int) Math.min(CHUNK, r.end() - pos);
            readPadded(in, imageSize, pos, buf, n);
            w.writeData(pos / 512, buf);
            pos += n;
          }
        }
        return out.finish();
      }
    }
  }

  private static LayerUuid topUuid(Optional<LayerStack> lower) {
    if (lower.isEmpty() || lower.get().lowers().isEmpty()) {
      return LayerUuid.NIL;
    }
    List<Layer> ls = lower.get().lowers();
    return ls.get(ls.size() - 1).trailer().uuid();
  }

  private static void readPadded(FileChannel in, long imageSize, long pos, ByteBuffer buf, int n)
      throws IOException {
    buf.clear().limit(n);
    long p = pos;
    while (buf.hasRemaining() && p < imageSize) {
      if (imageSize - p < buf.remaining()) {
        buf.limit(buf.position() + (int) (imageSize - p));
      }
      int r = in.read(buf, p);
      if (r < 0) {
        break;
      }
      p += r;
    }
    buf.limit(n);
    while (buf.hasRemaining()) {
      buf.put((byte) 0);
    }
    buf.flip();
  }
}
