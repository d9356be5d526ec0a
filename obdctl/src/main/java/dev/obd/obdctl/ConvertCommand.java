package dev.obd.obdctl;

import dev.obd.image.convert.Converter;
import dev.obd.image.zfile.Compression;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code obdctl convert}: an OCI image into an OverlayBD image (needs root). */
@Command(
    name = "convert",
    description = {
      "Convert an image of an OCI layout into an OverlayBD image, as the official convertor"
          + " does: each tar layer is applied to an ext4 disk through a loop mount and the changed"
          + " blocks are committed as an OverlayBD layer. Needs root.",
      "Image references are OCI_LAYOUT:TAG; the target layout is created when missing."
    })
final class ConvertCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--from",
      required = true,
      paramLabel = "OCI_LAYOUT:TAG",
      description = "The source image.")
  String from;

  @Option(
      names = "--to",
      required = true,
      paramLabel = "OCI_LAYOUT:TAG",
      description = "Where to store the result.")
  String to;

  @Option(
      names = "--fstype",
      defaultValue = "ext4",
      description = "File system of the disk (ext4).")
  String fstype;

  @Option(
      names = "--vsize",
      defaultValue = "64",
      paramLabel = "GiB",
      description = "Virtual disk size in GiB (default ${DEFAULT-VALUE}).")
  long vsizeGib;

  @Option(names = "--zstd", description = "Compress layers with zstd instead of LZ4.")
  boolean zstd;

  @Option(
      names = "--workdir",
      paramLabel = "DIR",
      description = "Scratch directory for the sparse disk image (default: java.io.tmpdir).")
  Path workDir;

  @Override
  public Integer call() throws Exception {
    Ref src = Ref.parse("--from", from);
    Ref dst = Ref.parse("--to", to);
    if (vsizeGib <= 0 || vsizeGib > 1 << 20) {
      throw new IllegalArgumentException("--vsize " + vsizeGib + " is not a sensible size in GiB");
    }
    PrintWriter out = spec.commandLine().getOut();
    Converter.Result r =
        Converter.convert(
            src.layout,
            src.tag,
            dst.layout,
            dst.tag,
            new Converter.Options(
                vsizeGib << 30, zstd ? Compression.ZSTD : Compression.LZ4, fstype, workDir),
            line -> {
              out.println(line);
              out.flush();
            });
    out.printf(
        "%s:%s: %d OverlayBD layer(s), manifest %s%n",
        dst.layout, dst.tag, r.layers().size(), r.manifest().digest());
    return 0;
  }

  /** OCI_LAYOUT:TAG, split at the last colon. */
  private record Ref(Path layout, String tag) {
    static Ref parse(String option, String text) {
      int colon = text.lastIndexOf(':');
      if (colon <= 0 || colon == text.length() - 1) {
        throw new IllegalArgumentException(option + " \"" + text + "\" is not OCI_LAYOUT:TAG");
      }
      return new Ref(Path.of(text.substring(0, colon)), text.substring(colon + 1));
    }
  }
}
