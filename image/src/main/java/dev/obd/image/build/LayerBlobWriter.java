package dev.obd.image.build;

import dev.obd.image.lsmt.CommittedLayerWriter;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.tar.TarWrapperWriter;
import dev.obd.image.zfile.ZFileWriter;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Writes one committed layer blob: the LSMT layer streams through an optional ZFile compressor into
 * a file that optionally starts with the tar wrapper's headers; {@link #finish()} completes each
 * level (LSMT trailer, ZFile jump table and header rewrite, tar headers and padding), syncs,
 * digests and renames the blob into place. Without {@code finish()}, {@link #close()} deletes the
 * partial file.
 *
 * <p>Not thread-safe.
 */
public final class LayerBlobWriter implements Closeable {
  private final Path target;
  private final Path partial;
  private final BlobFormat format;
  private final FileChannel file;
  private final ZFileWriter zfile;
  private final CommittedLayerWriter lsmt;
  private final long base;
  private boolean done;

  private LayerBlobWriter(
      Path target,
      Path partial,
      BlobFormat format,
      FileChannel file,
      ZFileWriter zfile,
      CommittedLayerWriter lsmt,
      long base) {
    this.target = target;
    this.partial = partial;
    this.format = format;
    this.file = file;
    this.zfile = zfile;
    this.lsmt = lsmt;
    this.base = base;
  }

  /**
   * Starts a blob at {@code target} (written as {@code target.partial} until finished).
   *
   * @param virtualSize the virtual disk size in bytes
   * @param uuid the layer's uuid
   * @param parent the parent layer's uuid or {@link LayerUuid#NIL}
   * @param userTag commit message (at most 256 bytes)
   */
  public static LayerBlobWriter create(
      Path target,
      BlobFormat format,
      long virtualSize,
      LayerUuid uuid,
      LayerUuid parent,
      byte[] userTag)
      throws IOException {
    Path partial = target.resolveSibling(target.getFileName() + ".partial");
    FileChannel file =
        FileChannel.open(
            partial,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.READ,
            StandardOpenOption.WRITE);
    ZFileWriter z = null;
    try {
      long base = format.tar() ? TarWrapperWriter.PAYLOAD_OFFSET : 0;
      WritableByteChannel sink;
      if (format.zfile().isPresent()) {
        z = ZFileWriter.create(file, base, format.zfile().get());
        sink = z;
      } else {
        file.position(base);
        sink = new UnclosableChannel(file);
      }
      CommittedLayerWriter w = CommittedLayerWriter.start(sink, virtualSize, uuid, parent, userTag);
      return new LayerBlobWriter(target, partial, format, file, z, w, base);
    } catch (IOException | RuntimeException e) {
      if (z != null) {
        z.abort();
      }
      file.close();
      Files.deleteIfExists(partial);
      throw e;
    }
  }

  /** Where to add the layer's ranges, in increasing order. */
  public CommittedLayerWriter lsmt() {
    return lsmt;
  }

  /** Completes, syncs, digests and renames the blob. */
  public BlobInfo finish() throws IOException {
    long lsmtBytes = lsmt.finish();
    long payload = zfile != null ? zfile.finish() : lsmtBytes;
    if (format.tar()) {
      writeAt(0, ByteBuffer.wrap(TarWrapperWriter.headers(payload)));
      writeAt(base + payload, ByteBuffer.wrap(TarWrapperWriter.trailer(payload)));
    }
    long size = base + payload + (format.tar() ? TarWrapperWriter.trailer(payload).length : 0);
    file.truncate(size);
    file.force(true);
    file.close();
    String digest = sha256(partial);
    Files.move(
        partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    done = true;
    return new BlobInfo(target, digest, size, lsmt.entryCount(), lsmt.dataSectors() * 512);
  }

  @Override
  public void close() throws IOException {
    if (!done) {
      if (zfile != null) {
        zfile.abort();
      }
      try {
        file.close();
      } finally {
        Files.deleteIfExists(partial);
      }
    }
  }

  private void writeAt(long pos, ByteBuffer b) throws IOException {
    long p = pos;
    while (b.hasRemaining()) {
      p += file.write(b, p);
    }
  }

  /** {@code sha256:<hex>} of a file. */
  public static String sha256(Path path) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try (InputStream in = Files.newInputStream(path)) {
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
    }
    return "sha256:" + HexFormat.of().formatHex(md.digest());
  }

  /** Sequential writes to the file channel; closing is the owner's business. */
  private static final class UnclosableChannel implements WritableByteChannel {
    private final FileChannel ch;

    UnclosableChannel(FileChannel ch) {
      this.ch = ch;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      return ch.write(src);
    }

    @Override
    public boolean isOpen() {
      return ch.isOpen();
    }

    @Override
    public void close() {}
  }
}
