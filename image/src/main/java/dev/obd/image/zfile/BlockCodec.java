package dev.obd.image.zfile;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.nio.ByteBuffer;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Compresses and decompresses single ZFile blocks. Decompression never writes more than the
 * capacity it is given, so a hostile block cannot expand beyond one block ("decompression bomb").
 * Stateless and thread-safe.
 */
abstract class BlockCodec {
  /** zstd level the overlaybd tools always use. */
  static final int ZSTD_LEVEL = 3;

  private static final BlockCodec LZ4 = new Lz4Codec();
  private static final BlockCodec ZSTD = new ZstdCodec();

  static BlockCodec of(Compression compression) {
    return compression == Compression.LZ4 ? LZ4 : ZSTD;
  }

  /** Upper bound of a compressed block of {@code n} bytes. */
  abstract int maxCompressedLength(int n);

  /**
   * Compresses {@code src[srcOff, srcOff+n)} into {@code dst} at {@code dstOff}; both buffers are
   * direct. Returns the compressed length.
   */
  abstract int compress(ByteBuffer src, int srcOff, int n, ByteBuffer dst, int dstOff);

  /**
   * Decompresses {@code src[srcOff, srcOff+srcLen)} (direct) into {@code dst} at {@code dstOff},
   * writing at most {@code capacity} bytes. Returns the decompressed length.
   *
   * @throws IllegalStateException with the codec's reason when the block is malformed or would
   *     decompress to more than {@code capacity} bytes
   */
  abstract int decompress(
      ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int capacity);

  /** Whether {@link #decompress} accepts a heap buffer as destination. */
  abstract boolean acceptsHeapDestination();

  private static final class Lz4Codec extends BlockCodec {
    private final LZ4Compressor compressor = LZ4Factory.fastestInstance().fastCompressor();
    private final LZ4SafeDecompressor decompressor =
        LZ4Factory.fastestInstance().safeDecompressor();

    @Override
    int maxCompressedLength(int n) {
      return compressor.maxCompressedLength(n);
    }

    @Override
    int compress(ByteBuffer src, int srcOff, int n, ByteBuffer dst, int dstOff) {
      return compressor.compress(src, srcOff, n, dst, dstOff, dst.capacity() - dstOff);
    }

    @Override
    int decompress(
        ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int capacity) {
      try {
        return decompressor.decompress(src, srcOff, srcLen, dst, dstOff, capacity);
      } catch (LZ4Exception e) {
        throw new IllegalStateException("malformed LZ4 block: " + e.getMessage(), e);
      }
    }

    @Override
    boolean acceptsHeapDestination() {
      return true;
    }
  }

  /**
   * zstd through per-thread contexts: creating a context per call costs more than decompressing a 4
   * KiB block. Contexts live as long as their thread.
   */
  private static final class ZstdCodec extends BlockCodec {
    private static final ThreadLocal<ZstdDecompressCtx> DCTX =
        ThreadLocal.withInitial(ZstdDecompressCtx::new);
    private static final ThreadLocal<ZstdCompressCtx> CCTX =
        ThreadLocal.withInitial(() -> new ZstdCompressCtx().setLevel(ZSTD_LEVEL));

    @Override
    int maxCompressedLength(int n) {
      return (int) Zstd.compressBound(n);
    }

    @Override
    int compress(ByteBuffer src, int srcOff, int n, ByteBuffer dst, int dstOff) {
      try {
        return CCTX.get()
            .compressDirectByteBuffer(dst, dstOff, dst.capacity() - dstOff, src, srcOff, n);
      } catch (RuntimeException e) {
        throw new IllegalStateException("zstd compression failed: " + e.getMessage(), e);
      }
    }

    @Override
    int decompress(
        ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int capacity) {
      try {
        return DCTX.get().decompressDirectByteBuffer(dst, dstOff, capacity, src, srcOff, srcLen);
      } catch (RuntimeException e) {
        throw new IllegalStateException("malformed zstd block: " + e.getMessage(), e);
      }
    }

    @Override
    boolean acceptsHeapDestination() {
      return false;
    }
  }
}
