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
import dev.obd.image.erofs.ErofsFormat;
import dev.obd.image.erofs.ErofsImage;
import dev.obd.image.erofs.ErofsNode;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.Digest;
import dev.obd.image.oci.ImageIndex.Platform;
import dev.obd.image.oci.ImageManifest;
import dev.obd.image.oci.ImageSource;
import dev.obd.image.oci.ImageTarget;
import dev.obd.image.oci.MediaTypes;
import dev.obd.image.oci.OciLayout;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * Converts the single-platform images of one conversion, one after another, in a scratch directory
 * the caller owns: each gets a fresh disk, its layers are applied and committed in turn, and each
 * OverlayBD layer is stored in the target as soon as it is made (unless the target has it). The
 * manifest is stored untagged; tagging is the caller's last step. Not thread-safe.
 *
 * <p>Layers made for one image serve the images after it: a bottom run of layers with the same
 * chain IDs (multi-platform images of architecture-independent content, or platforms sharing a
 * base) is taken as made, and only the layers above it are applied, on a disk rebuilt from the
 * taken ones. Committed layers are kept only while a later image of the conversion lists their
 * chain ID.
 */
final class ImageConversion {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ImageSource source;
  private final ImageTarget target;
  private final Converter.Options options;
  private final Path work;
  private final ConvertProgress progress;
  private final LayerRecords records;
  private final String reuseKey;
  private final Map<Digest, Made> made = new LinkedHashMap<>();
  private int images;
  private int blobFiles;
  private int layers;
  private int reused;
  private int stored;
  private int present;
  private int mounted;
  private long sourceBytes;
  private long layerBytes;

  ImageConversion(
      ImageSource source,
      ImageTarget target,
      Converter.Options options,
      LayerRecords records,
      Path work,
      Consumer<String> progress) {
    this.source = source;
    this.target = target;
    this.options = options;
    this.records = records;
    this.reuseKey = options.reuseKey();
    this.work = work;
    this.progress = ConvertProgress.of(progress);
  }

  /**
   * A layer made or taken in this conversion: its descriptor and committed file (null until needed,
   * for a layer an earlier conversion made).
   */
  private record Made(Descriptor descriptor, Path file) {}

  /** What was done so far. */
  record Counts(
      int layers,
      int reused,
      int stored,
      int present,
      int mounted,
      long sourceBytes,
      long layerBytes) {}

  Counts counts() {
    return new Counts(layers, reused, stored, present, mounted, sourceBytes, layerBytes);
  }

  /** The chain IDs of the layers {@code config} declares, bottom first (empty if it lists none). */
  static List<Digest> chainIds(JsonNode config) throws IOException {
    List<Digest> chains = new ArrayList<>();
    Digest chain = null;
    for (JsonNode d : config.path("rootfs").path("diff_ids")) {
      chain = Digest.chainId(chain, Digest.parse(d.asText()));
      chains.add(chain);
    }
    return chains;
  }

  /** A converted image and its manifest's exact bytes. */
  record Done(Converter.Result result, byte[] manifest) {}

  /**
   * Converts one image.
   *
   * @param config its config, as the source holds it
   * @param neededLater chain IDs the images still to come list: their layers are kept for them
   */
  Done convert(
      ImageManifest manifest, JsonNode config, Optional<Platform> platform, Set<Digest> neededLater)
      throws IOException {
    List<Digest> declaredDiffIds = new ArrayList<>();
    for (JsonNode d : config.path("rootfs").path("diff_ids")) {
      declaredDiffIds.add(Digest.parse(d.asText()));
    }
    if (!declaredDiffIds.isEmpty() && declaredDiffIds.size() != manifest.layers().size()) {
      throw new IOException(
          "convert "
              + source.name()
              + ": the config lists "
              + declaredDiffIds.size()
              + " diffIDs for "
              + manifest.layers().size()
              + " layers");
    }
    Path dir = Files.createDirectory(work.resolve("image-" + images++));
    Path disk = dir.resolve("disk.img");
    List<Descriptor> out = new ArrayList<>();
    List<Path> committed = new ArrayList<>();
    Digest chain = null;
    int n = manifest.layers().size();
    List<Digest> chains = chainIds(config);
    int k = 0;
    while (k < chains.size()) {
      Digest c = chains.get(k);
      Made m = made.get(c);
      String how;
      if (m != null) {
        boolean had = store(m.descriptor(), m.file());
        how = "made earlier in this conversion" + (had ? ", already in the target" : "");
      } else {
        Taken t = fromRecords(c);
        if (t == null) {
          break;
        }
        m = t.made();
        made.put(c, m);
        how = t.how();
      }
      out.add(m.descriptor());
      reused++;
      progress.accept(
          String.format(
              "layer %d/%d %s: %s -> %s",
              k + 1, n, manifest.layers().get(k).digest(), how, m.descriptor().digest()));
      chain = c;
      k++;
    }
    // what the kernel stamps from here on is made fixed after each layer (Ext4Normalizer)
    long since = java.time.Instant.now().getEpochSecond() - 1;
    if (k < n) {
      for (int i = 0; i < k; i++) {
        committed.add(localFile(chains.get(i)));
      }
      if (k == 0 && erofs()) {
        try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
          f.setLength(options.virtualSize());
        }
      } else if (k == 0) {
        Ext4Image.create(disk, options.virtualSize());
      } else {
        rebuildDisk(committed, disk);
      }
    }
    for (int i = k; i < n; i++) {
      Descriptor layer = manifest.layers().get(i);
      long t0 = System.nanoTime();
      LayerApplier.Result applied;
      String step =
          String.format("layer %d/%d %s", i + 1, n, layer.digest().toString().substring(0, 19));
      if (erofs()) {
        try (ImageSource.LocalBlob blob =
            source.fetch(layer, dir, downloading(step, layer.size()))) {
          progress.status(step + ": applying " + mib(layer.size()) + " to the image");
          applied = applyErofs(disk, blob.path(), i == 0);
        }
      } else {
        try (ImageSource.LocalBlob blob =
                source.fetch(layer, dir, downloading(step, layer.size()));
            LoopMount m = LoopMount.mount(disk, dir.resolve("mnt"))) {
          progress.status(step + ": applying " + mib(layer.size()) + " to the disk");
          applied = LayerApplier.apply(m.root(), blob.path());
        }
        Ext4Normalizer.normalize(disk, since, Ext4Normalizer.FIXED_TIME);
      }
      progress.status(step + ": committing the changed blocks");
      sourceBytes += layer.size();
      long t1 = System.nanoTime();
      if (!declaredDiffIds.isEmpty() && !declaredDiffIds.get(i).equals(applied.diffId())) {
        throw new IOException(
            "convert layer "
                + i
                + " ("
                + layer.digest()
                + ") of "
                + source.name()
                + ": its uncompressed digest "
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
      BlobInfo info = commitLayer(disk, committed, layerFile(), commit);
      long t2 = System.nanoTime();
      Digest digest = Digest.parse(info.digest());
      Descriptor d = layerDescriptor(digest, info.size());
      progress.status(step + ": storing " + mib(info.size()) + " in " + target.name());
      boolean had = store(d, info.path());
      committed.add(info.path());
      made.put(chain, new Made(d, info.path()));
      records.remember(
          new LayerRecords.Made(chain, reuseKey, target.location(), digest, info.size()));
      out.add(d);
      layers++;
      layerBytes += info.size();
      progress.accept(
          String.format(
              "layer %d/%d %s: %d entries, %d whiteouts, applied in %.1f s -> %s (%d bytes,"
                  + " %d index entries, committed in %.1f s%s)",
              i + 1,
              n,
              layer.digest(),
              applied.entries(),
              applied.whiteouts(),
              (t1 - t0) / 1e9,
              digest,
              info.size(),
              info.entries(),
              (t2 - t1) / 1e9,
              had ? ", already in the target" : ""));
    }
    List<Digest> blobDigests = new ArrayList<>();
    for (Descriptor l : out) {
      blobDigests.add(l.digest());
    }
    byte[] configBytes = ImageConfigRewriter.rewrite(config, blobDigests);
    Descriptor newConfig =
        new Descriptor(MediaTypes.OCI_CONFIG, Digest.of(configBytes), configBytes.length);
    if (target.has(newConfig)) {
      present++;
    } else {
      target.putBlob(newConfig, configBytes);
      stored++;
    }
    ObjectNode m = JSON.createObjectNode();
    m.put("schemaVersion", 2);
    m.put("mediaType", MediaTypes.OCI_MANIFEST);
    m.set("config", OciLayout.toJson(newConfig));
    ArrayNode ls = m.putArray("layers");
    for (Descriptor l : out) {
      ls.add(OciLayout.toJson(l));
    }
    byte[] manifestBytes = JSON.writeValueAsBytes(m);
    Descriptor newManifest =
        new Descriptor(MediaTypes.OCI_MANIFEST, Digest.of(manifestBytes), manifestBytes.length);
    target.putManifest(newManifest, manifestBytes);
    LayerApplier.deleteTree(dir);
    forgetAllBut(neededLater);
    return new Done(new Converter.Result(newManifest, newConfig, out, platform), manifestBytes);
  }

  /** Reports a download's progress at most every 200 ms. */
  private LongConsumer downloading(String step, long size) {
    long[] last = {0};
    return n -> {
      long now = System.nanoTime();
      if (now - last[0] >= 200_000_000L || n == size) {
        last[0] = now;
        progress.status(step + ": downloading " + mib(n) + " of " + mib(size));
      }
    };
  }

  private static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / 1048576.0);
  }

  /** The descriptor of an OverlayBD layer blob in a manifest, with the convertor's annotations. */
  private Descriptor layerDescriptor(Digest digest, long size) {
    Map<String, String> ann = new LinkedHashMap<>();
    ann.put(MediaTypes.OBD_BLOB_DIGEST, digest.toString());
    ann.put(MediaTypes.OBD_BLOB_SIZE, Long.toString(size));
    ann.put(MediaTypes.OBD_VERSION, MediaTypes.OBD_VERSION_VALUE);
    if (erofs()) {
      ann.put(MediaTypes.OBD_FS_TYPE, "erofs");
    }
    return new Descriptor(MediaTypes.OCI_LAYER_TAR, digest, size, ann);
  }

  private boolean erofs() {
    return options.fsType().equals("erofs");
  }

  /**
   * Applies a layer to the EROFS image on {@code disk}: its tree read back from the disk (a fresh
   * root for an image's first layer), the files' bytes appended, the whole metadata written after
   * them. Reading the tree from the disk makes a disk rebuilt from reused layers and one carried
   * from layer to layer the same start.
   */
  private LayerApplier.Result applyErofs(Path disk, Path blob, boolean first) throws IOException {
    try (FileChannel ch =
        FileChannel.open(disk, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ErofsNode root;
      long next;
      if (first) {
        root = ErofsNode.of(ErofsFormat.S_IFDIR | 0755);
        next = 1; // block 0 holds the superblock
      } else {
        ErofsImage.Read r = ErofsImage.read(ch);
        root = r.root();
        next = r.blocks();
      }
      ErofsLayerApplier.Result r =
          ErofsLayerApplier.apply(root, ch, next, options.virtualSize(), blob);
      long blocks = ErofsImage.write(ch, root, r.nextBlock());
      if (blocks * ErofsFormat.BLOCK > options.virtualSize()) {
        throw new IOException(
            "the EROFS image takes "
                + blocks * ErofsFormat.BLOCK
                + " bytes, more than --vsize's "
                + options.virtualSize());
      }
      return r.applied();
    }
  }

  /** A layer an earlier conversion made, now confirmed in the target, and how it got there. */
  private record Taken(Made made, String how) {}

  /**
   * The layer an earlier conversion made for {@code chain}, if the target has it or can mount it
   * from where it was stored; null when no record holds up.
   */
  private Taken fromRecords(Digest chain) throws IOException {
    String here = target.location();
    for (LayerRecords.Made r : records.find(chain, reuseKey, here)) {
      Descriptor d = layerDescriptor(r.digest(), r.size());
      if (target.has(d)) {
        present++;
        if (!r.location().equals(here)) {
          records.remember(new LayerRecords.Made(chain, reuseKey, here, r.digest(), r.size()));
        }
        return new Taken(new Made(d, null), "converted before, in the target");
      }
      if (!r.location().equals(here) && target.mount(d, r.location())) {
        mounted++;
        records.remember(new LayerRecords.Made(chain, reuseKey, here, r.digest(), r.size()));
        return new Taken(new Made(d, null), "converted before, mounted from " + r.location());
      }
    }
    return null;
  }

  /**
   * The committed file of layer {@code chain}, taken as made: fetched from the target when an
   * earlier conversion made it.
   */
  private Path localFile(Digest chain) throws IOException {
    Made m = made.get(chain);
    if (m.file() != null) {
      return m.file();
    }
    Path dir = Files.createDirectories(work.resolve("layers"));
    ImageSource.LocalBlob blob = target.fetch(m.descriptor(), dir);
    Path file = blob.path();
    if (!blob.temporary()) {
      // a layout's own blob: a copy, so that forgetting the layer never deletes the target's
      file = dir.resolve("stored-" + m.descriptor().digest().hex());
      Files.copy(blob.path(), file, StandardCopyOption.REPLACE_EXISTING);
    }
    progress.accept(
        "fetched " + m.descriptor().digest() + " from " + target.name() + " for the layers above");
    made.put(chain, new Made(m.descriptor(), file));
    return file;
  }

  /** A new file name for a committed layer, outside the images' directories. */
  private Path layerFile() throws IOException {
    return Files.createDirectories(work.resolve("layers")).resolve("layer-" + blobFiles++);
  }

  /** Drops the layers no image still to come lists. */
  private void forgetAllBut(Set<Digest> neededLater) throws IOException {
    var it = made.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Digest, Made> e = it.next();
      if (!neededLater.contains(e.getKey())) {
        if (e.getValue().file() != null) {
          Files.deleteIfExists(e.getValue().file());
        }
        it.remove();
      }
    }
  }

  /** Writes the disk the layers {@code lowers} describe, to apply the next layer on. */
  private static void rebuildDisk(List<Path> lowers, Path disk) throws IOException {
    try (LayerStack stack = openStack(lowers)) {
      SparseExport.export(stack, disk);
    }
  }

  /** Stores a layer unless the target has it; returns whether it had. */
  private boolean store(Descriptor d, Path file) throws IOException {
    if (target.has(d)) {
      present++;
      return true;
    }
    if (file == null) {
      throw new IOException(
          "convert " + source.name() + ": layer " + d.digest() + " vanished from " + target.name());
    }
    target.putBlob(d, file);
    stored++;
    return false;
  }

  private static BlobInfo commitLayer(
      Path disk, List<Path> lowers, Path target, LayerCommitter.Options options)
      throws IOException {
    if (lowers.isEmpty()) {
      return LayerCommitter.commit(disk, Optional.empty(), target, options);
    }
    try (LayerStack stack = openStack(lowers)) {
      return LayerCommitter.commit(disk, Optional.of(stack), target, options);
    }
  }

  private static LayerStack openStack(List<Path> lowers) throws IOException {
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
    return LayerStack.open(sources, Optional.empty()); // closes them if it fails
  }
}
