package dev.obd.image.convert;

import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.ImageManifest;
import dev.obd.image.oci.ImageSource;
import dev.obd.image.oci.MediaTypes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The checks a conversion makes before it converts anything, so that a problem the user can fix is
 * reported at once instead of after minutes of work: every layer is of a type a conversion can
 * apply, the image is not an OverlayBD image already, and the scratch directory has room.
 */
final class Preflight {
  /** The layer media types a conversion applies (the compression is recognised by its magic). */
  static final Set<String> LAYER_TYPES =
      Set.of(
          "application/vnd.oci.image.layer.v1.tar",
          "application/vnd.oci.image.layer.v1.tar+gzip",
          "application/vnd.oci.image.layer.v1.tar+zstd",
          "application/vnd.docker.image.rootfs.diff.tar",
          "application/vnd.docker.image.rootfs.diff.tar.gzip");

  /**
   * Room the scratch directory needs per byte of compressed layers: the disk image holds the
   * unpacked tree (gzip layers unpack to about 2-4 times their size) and the committed layers are
   * kept until the image is stored.
   */
  static final int SPACE_FACTOR = 4;

  private Preflight() {}

  /**
   * Refuses an ext4 conversion by a user other than root (effective user {@code euid}): its layers
   * are applied through a loop mount, which would fail only after the first layer was fetched.
   */
  static void checkPrivileges(String fsType, int euid) throws IOException {
    if (fsType.equals("ext4") && euid != 0) {
      throw new IOException(
          "convert to ext4 needs root (it applies each layer through a loop mount) and this"
              + " process runs as user "
              + euid
              + "; run it as root, or convert with --fstype erofs, which needs no root");
    }
  }

  static void check(ImageSource source, List<ImageManifest> manifests, Path workDir)
      throws IOException {
    long largest = 0;
    for (ImageManifest m : manifests) {
      long total = 0;
      for (Descriptor l : m.layers()) {
        if (l.annotations().containsKey(MediaTypes.OBD_BLOB_DIGEST)) {
          throw new IOException(
              "convert "
                  + source.name()
                  + ": it is an OverlayBD image already (layer "
                  + l.digest()
                  + " has "
                  + MediaTypes.OBD_BLOB_DIGEST
                  + ")");
        }
        if (!LAYER_TYPES.contains(l.mediaType())) {
          throw new IOException(
              "convert "
                  + source.name()
                  + ": layer "
                  + l.digest()
                  + " has media type "
                  + l.mediaType()
                  + ", which a conversion cannot apply (it applies "
                  + LAYER_TYPES.stream().sorted().toList()
                  + ")");
        }
        total += l.size();
      }
      largest = Math.max(largest, total);
    }
    Path existing = workDir.toAbsolutePath();
    while (!Files.exists(existing) && existing.getParent() != null) {
      existing = existing.getParent();
    }
    long free = Files.getFileStore(existing).getUsableSpace();
    long needed = largest * SPACE_FACTOR;
    if (free < needed) {
      throw new IOException(
          String.format(
              "convert %s: the scratch directory %s has %d MiB free, and the image needs about"
                  + " %d MiB (%d times its largest platform's %d MiB of compressed layers);"
                  + " choose another with --workdir",
              source.name(), workDir, free >> 20, needed >> 20, SPACE_FACTOR, largest >> 20));
    }
  }
}
