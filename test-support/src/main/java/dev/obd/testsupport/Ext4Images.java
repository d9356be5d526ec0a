package dev.obd.testsupport;

import java.nio.file.Path;
import java.util.List;

/** ext4 images made from a directory tree with {@code mkfs.ext4 -d}, as test and benchmark data. */
public final class Ext4Images {
  private Ext4Images() {}

  /**
   * Creates {@code image}, {@code bytes} long (whole MiB), holding a copy of {@code source}: 4 KiB
   * blocks, no journal (OverlayBD images are read-only and journal-free).
   */
  public static Path fromDirectory(Path source, Path image, long bytes) {
    Mounts.run(
        List.of(
            "mkfs.ext4",
            "-q",
            "-F",
            "-b",
            "4096",
            "-O",
            "^has_journal",
            "-d",
            source.toString(),
            image.toString(),
            (bytes >> 20) + "M"),
        null);
    return image;
  }
}
