package dev.obd.obdctl;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.WritableLayer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code obdctl extract}: the merged virtual disk of layers as a sparse raw image. */
@Command(
    name = "extract",
    description = {
      "Write the merged virtual disk of a layer stack to a sparse raw image: holes and zeroed"
          + " ranges stay holes.",
      "Layers are given bottom first (each a blob, a ZFile or a raw LSMT file), or taken from a"
          + " config.v1.json (local layers only)."
    })
final class ExtractCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = {"-o", "--output"},
      required = true,
      paramLabel = "OUT.img",
      description = "The raw image to write.")
  Path output;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Input input;

  static final class Input {
    @Option(
        names = "--config",
        paramLabel = "config.v1.json",
        description = "Take the layers (and a writable upper layer) from a config.v1.json.")
    Path config;

    @Parameters(paramLabel = "LAYER", arity = "1..*", description = "Layers, bottom first.")
    List<Path> layers;
  }

  @Override
  public Integer call() throws Exception {
    List<Path> files = new ArrayList<>();
    Optional<WritableLayer> upper = Optional.empty();
    if (input.config != null) {
      ImageConfig c = ImageConfigJson.read(input.config);
      List<LowerConfig> lowers = c.lowers();
      if (c.accelerationLayer() && !lowers.isEmpty()) {
        lowers = lowers.subList(0, lowers.size() - 1); // a trace layer, not part of the disk
      }
      for (int i = 0; i < lowers.size(); i++) {
        LowerConfig l = lowers.get(i);
        Optional<Path> local = l.resolveLocalFile();
        if (local.isEmpty()) {
          throw new IOException(
              "extract from "
                  + input.config
                  + ": lower "
                  + i
                  + (l.digest().isEmpty() ? "" : " (" + l.digest() + ")")
                  + " has no local file (file \""
                  + l.file()
                  + "\", dir \""
                  + l.dir()
                  + "\"); remote layers are not read by obdctl extract");
        }
        files.add(local.get());
      }
      if (c.upper().isWritable()) {
        upper =
            Optional.of(WritableLayer.open(Path.of(c.upper().data()), Path.of(c.upper().index())));
      }
    } else {
      files.addAll(input.layers);
    }
    List<ByteSource> sources = new ArrayList<>();
    try {
      for (Path f : files) {
        sources.add(FileByteSource.open(f));
      }
    } catch (IOException e) {
      for (ByteSource s : sources) {
        s.close();
      }
      if (upper.isPresent()) {
        upper.get().close();
      }
      throw e;
    }
    long written;
    long size;
    try (LayerStack stack = LayerStack.open(sources, upper)) {
      size = stack.size();
      written = SparseExport.export(stack, output);
    }
    spec.commandLine()
        .getOut()
        .printf(
            "%s: %d-byte disk from %d layer(s)%s, %d bytes of data written%n",
            output, size, files.size(), upper.isPresent() ? " and a writable layer" : "", written);
    return 0;
  }
}
