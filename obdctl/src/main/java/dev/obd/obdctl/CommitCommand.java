package dev.obd.obdctl;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.build.BlobFormat;
import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.zfile.Compression;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code obdctl commit}: a raw disk image as a committed layer blob. */
@Command(
    name = "commit",
    description = {
      "Commit a raw disk image as a committed, compressed, tar-wrapped OverlayBD layer, as"
          + " overlaybd-commit -z -t writes it.",
      "With --parent the layer holds only what differs from the stack of parent layers: changed"
          + " blocks as data, blocks that became zero as zeroed ranges."
    })
final class CommitCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--zstd", description = "Compress with zstd instead of LZ4.")
  boolean zstd;

  @Option(
      names = "--raw",
      description = "Write a plain LSMT file (overlaybd.commit) without ZFile and tar.")
  boolean raw;

  @Option(
      names = "--parent",
      paramLabel = "LAYER",
      arity = "1..*",
      description = "Lower layers the image is diffed against, bottom first.")
  List<Path> parents = new ArrayList<>();

  @Option(
      names = "--uuid",
      paramLabel = "UUID",
      description = "The layer's uuid (the convertor uses the layer's chain ID). Default: nil.")
  String uuid;

  @Option(
      names = "--parent-uuid",
      paramLabel = "UUID",
      description = "The parent's uuid. Default: the top parent layer's uuid, or nil.")
  String parentUuid;

  @Option(
      names = {"-m", "--message"},
      paramLabel = "TEXT",
      description = "Commit message stored in the layer (at most 256 bytes).")
  String message = "";

  @Parameters(index = "0", paramLabel = "IMAGE", description = "The raw disk image.")
  Path image;

  @Parameters(index = "1", paramLabel = "OUT", description = "The layer blob to write.")
  Path out;

  @Override
  public Integer call() throws Exception {
    if (raw && zstd) {
      throw new IllegalArgumentException("--raw and --zstd exclude each other");
    }
    BlobFormat format =
        raw ? BlobFormat.rawLsmt() : BlobFormat.official(zstd ? Compression.ZSTD : Compression.LZ4);
    LayerCommitter.Options options =
        new LayerCommitter.Options(
            format,
            uuid == null ? LayerUuid.NIL : LayerUuid.parse(uuid),
            parentUuid == null ? Optional.empty() : Optional.of(LayerUuid.parse(parentUuid)),
            message,
            0);
    BlobInfo info;
    if (parents.isEmpty()) {
      info = LayerCommitter.commit(image, Optional.empty(), out, options);
    } else {
      List<ByteSource> sources = new ArrayList<>();
      try {
        for (Path p : parents) {
          sources.add(FileByteSource.open(p));
        }
      } catch (IOException e) {
        for (ByteSource s : sources) {
          s.close();
        }
        throw e;
      }
      try (LayerStack lower = LayerStack.open(sources, Optional.empty())) {
        info = LayerCommitter.commit(image, Optional.of(lower), out, options);
      }
    }
    spec.commandLine()
        .getOut()
        .printf(
            "%s: %s, %d bytes, %d index entries, %d bytes of data%n",
            info.path(), info.digest(), info.size(), info.entries(), info.dataBytes());
    return 0;
  }
}
