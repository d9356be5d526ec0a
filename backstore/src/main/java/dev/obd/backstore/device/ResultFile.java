package dev.obd.backstore.device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * The config's {@code resultFile}: "success" or "failed:&lt;reason&gt;" after each attach attempt,
 * as overlaybd-tcmu writes it, so tools that read upstream's init-debug.log keep working.
 */
final class ResultFile {
  private static final Logger LOG = Logger.getLogger(ResultFile.class.getName());

  private ResultFile() {}

  static void success(String path) {
    write(path, "success");
  }

  static void failed(String path, String reason) {
    write(path, "failed:" + reason.replace('\n', ' '));
  }

  private static void write(String path, String text) {
    if (path == null || path.isEmpty()) {
      return;
    }
    try {
      Files.writeString(Path.of(path), text);
    } catch (IOException e) {
      LOG.warning("write result file " + path + ": " + e.getMessage());
    }
  }
}
