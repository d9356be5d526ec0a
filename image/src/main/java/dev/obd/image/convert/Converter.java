package dev.obd.image.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.ImageIndex;
import dev.obd.image.oci.ImageIndex.Platform;
import dev.obd.image.oci.ImageManifest;
import dev.obd.image.oci.ImageSource;
import dev.obd.image.oci.ImageTarget;
import dev.obd.image.oci.LayoutImage;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import dev.obd.image.zfile.Compression;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Converts an ordinary OCI or Docker image into an OverlayBD image, as the official convertor does:
 * an ext4 file system (created with the convertor's feature set) receives each tar layer in turn
 * through a loop mount, and after each layer the blocks that changed against the layers committed
 * so far become the next OverlayBD layer (uuid = the source layer's chain ID, parent = the previous
 * one). The manifest and config carry the OverlayBD annotations and the new diffIDs. A
 * multi-platform source gives a multi-platform result: every platform, or those asked for. Needs
 * root.
 *
 * <p>Everything is checked before any layer is converted: the target can be written, every manifest
 * can be read and has only layer types a conversion can apply, the scratch directory has room. The
 * target reference is written last, after every blob and manifest, so an interrupted conversion
 * leaves nothing half-visible.
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
   * @param workDir where the scratch disk image, mount point and committed layers live (sparse;
   *     needs room for the image's content)
   * @param platforms the platforms of a multi-platform source to convert; empty: every platform
   */
  public record Options(
      long virtualSize,
      Compression compression,
      String fsType,
      Path workDir,
      List<Platform> platforms) {
    /** The version of what the converter writes, part of {@link #reuseKey}. */
    public static final String FORMAT = "obd-convert/3";

    /** The convertor's default disk size. */
    public static final long DEFAULT_VSIZE = 64L << 30;

    public Options {
      if (virtualSize <= 0 || virtualSize % 4096 != 0) {
        throw new IllegalArgumentException(
            "virtual size " + virtualSize + " is not a positive multiple of 4096");
      }
      compression = compression == null ? Compression.LZ4 : compression;
      fsType = fsType == null ? "ext4" : fsType;
      if (!fsType.equals("ext4") && !fsType.equals("erofs")) {
        throw new IllegalArgumentException(
            "file system \"" + fsType + "\" is not supported (ext4 or erofs)");
      }
      workDir = workDir == null ? Path.of(System.getProperty("java.io.tmpdir")) : workDir;
      platforms = platforms == null ? List.of() : List.copyOf(platforms);
    }

    /**
     * Names what the converter's output depends on besides the source layers: layers of equal chain
     * ID and equal key are interchangeable, as {@link LayerRecords} keep them. {@link #FORMAT}
     * changes whenever the converter would write other bytes for the same input.
     */
    public String reuseKey() {
      return FORMAT
          + " fs="
          + fsType
          + " vsize="
          + virtualSize
          + " zfile="
          + compression.name().toLowerCase(java.util.Locale.ROOT)
          + " obd="
          + MediaTypes.OBD_VERSION_VALUE;
    }

    public Options(long virtualSize, Compression compression, String fsType, Path workDir) {
      this(virtualSize, compression, fsType, workDir, List.of());
    }

    public static Options defaults() {
      return new Options(DEFAULT_VSIZE, Compression.LZ4, "ext4", null);
    }
  }

  /**
   * One converted single-platform image.
   *
   * @param manifest descriptor of the new manifest
   * @param config descriptor of the new config
   * @param layers the OverlayBD layer blobs, bottom first
   * @param platform its platform, when it came from a multi-platform source
   */
  public record Result(
      Descriptor manifest,
      Descriptor config,
      List<Descriptor> layers,
      Optional<Platform> platform) {
    public Result {
      layers = List.copyOf(layers);
    }
  }

  /**
   * A whole conversion.
   *
   * @param root what the target reference now names: the manifest, or the new index
   * @param images the converted images, in the source's order
   * @param stats what it took
   */
  public record Outcome(Descriptor root, List<Result> images, Stats stats) {
    public Outcome {
      images = List.copyOf(images);
    }
  }

  /**
   * What a conversion did.
   *
   * @param layersConverted source layers applied and committed
   * @param layersReused layers taken as made for an earlier image of the same conversion
   * @param blobsStored blobs (layers, configs) written to the target
   * @param blobsPresent blobs the target already had, not written again
   * @param blobsMounted layers an earlier conversion stored elsewhere, mounted into the target
   * @param sourceBytes bytes of the source layer blobs read
   * @param layerBytes bytes of the OverlayBD layers made
   * @param nanos the time it took, preflight included
   */
  public record Stats(
      int layersConverted,
      int layersReused,
      int blobsStored,
      int blobsPresent,
      int blobsMounted,
      long sourceBytes,
      long layerBytes,
      long nanos) {}

  /**
   * Converts image {@code fromTag} of layout {@code from} and stores it as {@code toTag} in layout
   * {@code to} (created when missing; may be the same layout); the source must be a single-platform
   * image.
   *
   * @param progress receives one line per step, e.g. for a command-line tool
   */
  public static Result convert(
      Path from, String fromTag, Path to, String toTag, Options options, Consumer<String> progress)
      throws IOException {
    Outcome o =
        convert(
            LayoutImage.source(from, fromTag), LayoutImage.target(to, toTag), options, progress);
    if (o.images().size() != 1) {
      throw new IOException(
          "convert "
              + from
              + ":"
              + fromTag
              + ": a multi-platform image gave "
              + o.images().size()
              + " images");
    }
    return o.images().get(0);
  }

  /**
   * Converts the image {@code source} names into an OverlayBD image that {@code target} then names.
   *
   * @param progress receives one line per step, e.g. for a command-line tool
   */
  public static Outcome convert(
      ImageSource source, ImageTarget target, Options options, Consumer<String> progress)
      throws IOException {
    return convert(source, target, options, LayerRecords.none(), progress);
  }

  /**
   * As {@link #convert(ImageSource, ImageTarget, Options, Consumer)}, taking layers an earlier
   * conversion made from {@code records} (once the target confirms it has them, or has mounted
   * them) and recording each layer it makes.
   */
  public static Outcome convert(
      ImageSource source,
      ImageTarget target,
      Options options,
      LayerRecords records,
      Consumer<String> progress)
      throws IOException {
    long t0 = System.nanoTime();
    Preflight.checkPrivileges(options.fsType(), dev.obd.image.sys.Posix.euid());
    target.checkWritable();
    ImageSource.Document root = source.root();
    JsonNode rootDoc = JSON.readTree(root.bytes());
    Plan plan = plan(source, root, rootDoc, options, progress);
    Preflight.check(source, plan.manifests(), options.workDir());
    Files.createDirectories(options.workDir());
    Path work = Files.createTempDirectory(options.workDir(), "obd-convert-");
    try {
      ImageConversion conversion =
          new ImageConversion(source, target, options, records, work, progress);
      List<Result> images = new ArrayList<>();
      ImageSource.Document result = null;
      // each config read once: its chain IDs tell which layers later images share
      List<JsonNode> configs = new ArrayList<>();
      List<List<Digest>> chains = new ArrayList<>();
      for (ImageManifest m : plan.manifests()) {
        JsonNode config = JSON.readTree(source.read(m.config()));
        configs.add(config);
        chains.add(ImageConversion.chainIds(config));
      }
      for (int i = 0; i < plan.manifests().size(); i++) {
        Optional<Platform> platform = plan.platforms().get(i);
        platform.ifPresent(p -> progress.accept("platform " + p));
        Set<Digest> neededLater = new HashSet<>();
        chains.subList(i + 1, chains.size()).forEach(neededLater::addAll);
        ImageConversion.Done done =
            conversion.convert(plan.manifests().get(i), configs.get(i), platform, neededLater);
        images.add(done.result());
        result = new ImageSource.Document(done.result().manifest(), done.manifest());
      }
      if (plan.index() != null) {
        result = newIndex(plan, images);
        target.putManifest(result.descriptor(), result.bytes());
      }
      target.tag(result.descriptor(), result.bytes());
      progress.accept("tagged " + target.name() + " -> " + result.descriptor().digest());
      ImageConversion.Counts c = conversion.counts();
      return new Outcome(
          result.descriptor(),
          images,
          new Stats(
              c.layers(),
              c.reused(),
              c.stored(),
              c.present(),
              c.mounted(),
              c.sourceBytes(),
              c.layerBytes(),
              System.nanoTime() - t0));
    } finally {
      cleanUp(work);
    }
  }

  /**
   * What to convert: the single manifest, or the index's entries for the platforms asked for.
   *
   * @param index the source index, or null for a single manifest
   * @param indexDoc its JSON
   * @param positions the chosen entries' positions in the index
   */
  private record Plan(
      ImageIndex index,
      JsonNode indexDoc,
      List<Integer> positions,
      List<ImageManifest> manifests,
      List<Optional<Platform>> platforms) {}

  private static Plan plan(
      ImageSource source,
      ImageSource.Document root,
      JsonNode doc,
      Options options,
      Consumer<String> progress)
      throws IOException {
    if (!ImageManifest.isIndex(root.descriptor(), doc)) {
      if (!options.platforms().isEmpty()) {
        progress.accept(source.name() + " is a single-platform image: --platform does not apply");
      }
      return new Plan(
          null,
          null,
          List.of(),
          List.of(ImageManifest.parse(root.descriptor(), doc)),
          List.of(Optional.empty()));
    }
    ImageIndex index = ImageIndex.parse(root.descriptor(), doc);
    List<Integer> positions = new ArrayList<>();
    List<ImageManifest> manifests = new ArrayList<>();
    List<Optional<Platform>> platforms = new ArrayList<>();
    List<String> listed = new ArrayList<>();
    for (int i = 0; i < index.entries().size(); i++) {
      ImageIndex.Entry e = index.entries().get(i);
      listed.add(e.platform().map(Platform::toString).orElse("(none)"));
      if (e.platform().isPresent() && e.platform().get().isUnknown()) {
        progress.accept(
            "skip " + e.descriptor().digest() + ": not an image for a platform (an attestation)");
        continue;
      }
      if (!options.platforms().isEmpty()
          && (e.platform().isEmpty()
              || options.platforms().stream().noneMatch(p -> e.platform().get().matches(p)))) {
        continue;
      }
      if (!MediaTypes.isManifest(e.descriptor().mediaType())) {
        throw new IOException(
            "convert "
                + source.name()
                + ": entry "
                + e.descriptor().digest()
                + " of the index is a "
                + e.descriptor().mediaType()
                + ", not an image manifest");
      }
      positions.add(i);
      manifests.add(
          ImageManifest.parse(e.descriptor(), JSON.readTree(source.read(e.descriptor()))));
      platforms.add(e.platform());
    }
    if (manifests.isEmpty()) {
      throw new IOException(
          "convert "
              + source.name()
              + ": no image "
              + (options.platforms().isEmpty() ? "" : "for " + options.platforms() + " ")
              + "in its index (it lists "
              + listed
              + ")");
    }
    return new Plan(index, doc, positions, manifests, platforms);
  }

  /** An OCI index of the converted images, each entry keeping the source entry's platform. */
  private static ImageSource.Document newIndex(Plan plan, List<Result> images) throws IOException {
    ObjectNode idx = JSON.createObjectNode();
    idx.put("schemaVersion", 2);
    idx.put("mediaType", MediaTypes.OCI_INDEX);
    ArrayNode ms = idx.putArray("manifests");
    JsonNode entries = plan.indexDoc().path("manifests");
    for (int i = 0; i < images.size(); i++) {
      ObjectNode m = OciLayout.toJson(images.get(i).manifest());
      JsonNode platform = entries.get(plan.positions().get(i)).get("platform");
      if (platform != null && platform.isObject()) {
        m.set("platform", platform);
      }
      ms.add(m);
    }
    byte[] bytes = JSON.writeValueAsBytes(idx);
    return new ImageSource.Document(
        new Descriptor(MediaTypes.OCI_INDEX, Digest.of(bytes), bytes.length), bytes);
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
}
