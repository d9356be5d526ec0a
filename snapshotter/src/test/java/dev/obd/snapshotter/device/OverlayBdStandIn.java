package dev.obd.snapshotter.device;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.ImageConfigJson;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.WritableLayer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A STAND-IN for upstream's overlaybd-tcmu, for the VM tier, whose only TCMU handler is Debian's
 * tcmu-runner: its "qcow" handler serves qcow2 and raw files, not {@code config.v1.json}. This
 * wraps the guest's real kernel files and changes one write: the attacher's {@code
 * dev_config=qcow/<dir>/config.v1.json} becomes {@code dev_config=qcow/<dir>/standin.raw} followed
 * by {@code dev_size=<its size>}, where {@code standin.raw} holds the virtual disk that
 * config.v1.json describes (its local lowers merged under its writable upper, if any), exported
 * with our own format library ({@link LayerStack}, {@link SparseExport}: the reader obd-backstore
 * serves from) the first time the config is attached. Everything else the kernel sees is the
 * attacher's own configfs sequence.
 *
 * <p>So the disk's bytes are what overlaybd-tcmu would serve at attach time, but from a copy: a
 * writable device's writes land in {@code standin.raw}, which keeps them across a detach and a new
 * attach as the writable layer would, but not in the layer's own {@code writable_data}; remote
 * lowers are not served at all. A config the stand-in cannot read gets what overlaybd-tcmu does in
 * that case: {@code failed:<reason>} in the result file beside the config, and an open that fails
 * (tcmu-runner is handed the JSON file itself, which it cannot open), so the kernel refuses {@code
 * enable}.
 *
 * <p>Thread-safe for different configs, as the snapshotter attaches them.
 */
final class OverlayBdStandIn extends ForwardingKernelFiles {
  static final String HANDLER = "qcow";
  static final String DISK = "standin.raw";
  private static final String CONFIG_PREFIX = "dev_config=" + HANDLER + "/";

  OverlayBdStandIn(KernelFiles kernel) {
    super(kernel);
  }

  @Override
  public void write(String path, String value) throws IOException {
    if (!path.endsWith("/control")
        || !value.startsWith(CONFIG_PREFIX)
        || !value.endsWith(".json")) {
      kernel.write(path, value);
      return;
    }
    Path config = Path.of(value.substring(CONFIG_PREFIX.length()));
    Path disk;
    try {
      disk = diskOf(config);
    } catch (IOException | RuntimeException e) {
      Files.writeString(config.resolveSibling("init-debug.log"), "failed:" + e.getMessage());
      kernel.write(path, value);
      return;
    }
    kernel.write(path, CONFIG_PREFIX + disk);
    kernel.write(path, "dev_size=" + Files.size(disk));
  }

  /** The raw disk of {@code config}, exported on its first attach. */
  private static Path diskOf(Path config) throws IOException {
    Path disk = config.resolveSibling(DISK);
    if (Files.exists(disk)) {
      return disk;
    }
    ImageConfig c = ImageConfigJson.read(config);
    List<ByteSource> lowers = new ArrayList<>();
    Optional<WritableLayer> upper = Optional.empty();
    try {
      for (LowerConfig lower : c.lowers()) {
        Path file =
            lower
                .resolveLocalFile()
                .orElseThrow(
                    () -> new IOException("the stand-in serves local layers only: " + lower));
        lowers.add(FileByteSource.open(file));
      }
      if (c.upper().isWritable()) {
        upper =
            Optional.of(WritableLayer.open(Path.of(c.upper().data()), Path.of(c.upper().index())));
      }
    } catch (IOException e) {
      for (ByteSource s : lowers) {
        try {
          s.close();
        } catch (IOException closing) {
          e.addSuppressed(closing);
        }
      }
      throw e;
    }
    try (LayerStack stack = LayerStack.open(lowers, upper)) {
      SparseExport.export(stack, disk);
    }
    return disk;
  }
}
