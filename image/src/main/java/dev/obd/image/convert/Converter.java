package dev.obd.image.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.build.BlobFormat;
import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.ImageManifest;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import dev.obd.image.zfile.Compression;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Converts an ordinary OCI image into an OverlayBD image, as the official convertor does: an ext4
 * file system (created with the convertor's feature set) receives each tar layer in turn through a
 * loop mount, and after each layer the blocks that changed against the layers committed so far
 * become the next OverlayBD layer (uuid = the source layer's chain ID, parent = the previous one).
 * The manifest and config carry the OverlayBD annotations and the new diffIDs. Needs root.
 *
 * <p>Until a writable upper device exists, changed blocks are found by comparing the whole image
 * against the committed stack (only allocated extents are read); overlaybd-apply instead records
 * the writes themselves.
 */
public final class Converter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private Converter() {}

  /**
   * How to convert.
   *
   * @param virtualSize the disk size in bytes (the convertor's default is 64 GiB)
   * @param compression ZFile compression of the layers
   * @param fsType the file system; only {@code ext4} is supported
   * @param workDir where the scratch disk image and mount point live (sparse; needs room for the
   *     image's content)
   */
  public record Options(long virtualSize, Compression compression, String fsType, Path workDir) {
    /** The convertor's default disk size. */
    public static final long DEFAULT_VSIZE = 64L << 30;

    public Options {
      if (virtualSize <= 0 || virtualSize % 4096 != 0) {
        throw new IllegalArgumentException(
            "virtual size " + virtualSize + " is not a positive multiple of 4096");
      }
      compression = compression == null ? Compression.LZ4 : compression;
      fsType = fsType == null ? "ext4" : fsType;
      if (!fsType.equals("ext4")) {
        throw new IllegalArgumentException(
            "file system \"" + fsType + "\" is not supported (ext4 only)");
      }
      workDir = workDir == null ? Path.of(System.getProperty("java.io.tmpdir")) : workDir;
    }

    public static Options defaults() {
      return new Options(DEFAULT_VSIZE, Compression.LZ4, "ext4", null);
    }
  }

  /**
   * The converted image.
   *
   * @param manifest descriptor of the new manifest (tagged in the target layout)
   * @param config descriptor of the new config
   * @param layers the OverlayBD layer blobs, bottom first
   */
  public record Result(Descriptor manifest, Descriptor config, List<Descriptor> layers) {}

  /**
   * Converts image {@code fromTag} of layout {@code from} and stores it as {@code toTag} in layout
   * {@code to} (created when missing; may be the same layout).
   *
   * @param progress receives one line per step, e.g. for a command-line tool
   */
  public static Result convert(
      Path from, String fromTag, Path to, String toTag, Options options, Consumer<String> progress)
      throws IOException {
    OciLayout src = OciLayout.open(from);
    ImageManifest manifest = ImageManifest.read(src, src.resolve(fromTag));
    JsonNode config = src.readJson(manifest.config());
    List<Digest> declaredDiffIds = new ArrayList<>();
    for (JsonNode d : config.path("rootfs").path("diff_ids")) {
      declaredDiffIds.add(Digest.parse(d.asText()));
    }
    if (!declaredDiffIds.isEmpty() && declaredDiffIds.size() != manifest.layers().size()) {
      throw new IOException(
          "convert "
              + from
              + ":"
              + fromTag
              + ": the config lists "
              + declaredDiffIds.size()
              + " diffIDs for "
              + manifest.layers().size()
              + " layers");
    }
    OciLayout dst = OciLayout.openOrCreate(to);
    Files.createDirectories(options.workDir());
    Path work = Files.createTempDirectory(options.workDir(), "obd-convert-");
    try {
      Path disk = work.resolve("disk.img");
      Ext4Image.create(disk, options.virtualSize());
      List<Descriptor> layers = new ArrayList<>();
      List<Path> committed = new ArrayList<>();
      Digest chain = null;
      for (int i = 0; i < manifest.layers().size(); i++) {
        Descriptor layer = manifest.layers().get(i);
        Path blob = src.verifiedBlob(layer);
        long t0 = System.nanoTime();
        LayerApplier.Result applied;
        try (LoopMount m = LoopMount.mount(disk, work.resolve("mnt"))) {
          applied = LayerApplier.apply(m.root(), blob);
        }
        long t1 = System.nanoTime();
        if (!declaredDiffIds.isEmpty() && !declaredDiffIds.get(i).equals(applied.diffId())) {
          throw new IOException(
              "convert layer "
                  + i
                  + " ("
                  + layer.digest()
                  + "): its uncompressed digest "
                  + applied.diffId()
                  + " differs from the config's diffID "
                  + declaredDiffIds.get(i));
        }
        Digest parentChain = chain;
        chain = Digest.chainId(chain, applied.diffId());
        LayerCommitter.Options commit =
            new LayerCommitter.Options(
                BlobFormat.official(options.compression()),
                LayerUuid.fromChainId(chain.toString()),
                Optional.of(
                    parentChain == null
                        ? LayerUuid.NIL
                        : LayerUuid.fromChainId(parentChain.toString())),
                "",
                options.virtualSize());
        BlobInfo info = commitLayer(disk, committed, work.resolve("layer-" + i), commit);
        long t2 = System.nanoTime();
        Digest digest = Digest.parse(info.digest());
        dst.moveIn(info.path(), digest);
        committed.add(dst.blobPath(digest));
        Map<String, String> ann = new LinkedHashMap<>();
        ann.put(MediaTypes.OBD_BLOB_DIGEST, digest.toString());
        ann.put(MediaTypes.OBD_BLOB_SIZE, Long.toString(info.size()));
        ann.put(MediaTypes.OBD_VERSION, MediaTypes.OBD_VERSION_VALUE);
        layers.add(new Descriptor(MediaTypes.OCI_LAYER_TAR, digest, info.size(), ann));
        progress.accept(
            String.format(
                "layer %d/%d %s: %d entries, %d whiteouts, applied in %.1f s -> %s (%d bytes,"
                    + " %d index entries, committed in %.1f s)",
                i + 1,
                manifest.layers().size(),
                layer.digest(),
                applied.entries(),
                applied.whiteouts(),
                (t1 - t0) / 1e9,
                digest,
                info.size(),
                info.entries(),
                (t2 - t1) / 1e9));
      }
      List<Digest> blobDigests = new ArrayList<>();
      for (Descriptor l : layers) {
        blobDigests.add(l.digest());
      }
      Descriptor newConfig =
          dst.putBlob(MediaTypes.OCI_CONFIG, ImageConfigRewriter.rewrite(config, blobDigests));
      ObjectNode m = JSON.createObjectNode();
      m.put("schemaVersion", 2);
      m.put("mediaType", MediaTypes.OCI_MANIFEST);
      m.set("config", OciLayout.toJson(newConfig));
      ArrayNode ls = m.putArray("layers");
      for (Descriptor l : layers) {
        ls.add(OciLayout.toJson(l));
      }
      Descriptor newManifest = dst.putBlob(MediaTypes.OCI_MANIFEST, JSON.writeValueAsBytes(m));
      dst.tag(toTag, newManifest);
      progress.accept("tagged " + to + ":" + toTag + " -> " + newManifest.digest());
      return new Result(newManifest, newConfig, layers);
    } finally {
      cleanUp(work);
    }
  }

  /** Deletes the scratch directory, unless something is still mounted in it. */
  private static void cleanUp(Path work) throws IOException {
    Path mnt = work.resolve("mnt");
    if (Files.isDirectory(mnt)
        && !Files.getAttribute(mnt, "unix:dev").equals(Files.getAttribute(work, "unix:dev"))) {
      throw new IOException(
          "clean up "
              + work
              + ": "
              + mnt
              + " is still mounted; unmount it and delete the directory");
    }
    LayerApplier.deleteTree(work);
  }

  private static BlobInfo commitLayer(
      Path disk, List<Path> lowers, Path target, LayerCommitter.Options options)
      throws IOException {
    if (lowers.isEmpty()) {
      return LayerCommitter.commit(disk, Optional.empty(), target, options);
    }
    List<ByteSource> sources = new ArrayList<>();
    try {
      for (Path p : lowers) {
        sources.add(FileByteSource.open(p));
      }
    } catch (IOException e) {
      for (ByteSource s : sources) {
        s.close();
      }
      throw e;
    }
    try (LayerStack stack = LayerStack.open(sources, Optional.empty())) {
      return LayerCommitter.commit(disk, Optional.of(stack), target, options);
    }
  }
}
