package dev.obd.image.convert;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;

/**
 * Creates the ext4 file system OverlayBD images carry, with the feature set of the official
 * convertor's {@code make_extfs}: 4 KiB blocks, 256-byte inodes, one inode per 16 KiB, 5% reserved,
 * no journal, 64bit, extents, flex_bg with one group per flex group, sparse_super2, resize_inode,
 * dir_index, filetype, ext_attr, dir_nlink, large_file, huge_file, extra_isize, and the convertor's
 * fixed file system UUID, which also seeds the directory hashes (a random seed would order
 * directories, and so their blocks, differently in every conversion).
 */
final class Ext4Image {
  /** The UUID overlaybd's make_extfs gives every file system. */
  static final String FS_UUID = "bdf7bb2e-c231-43ce-87c2-299792458ef5";

  static final String FEATURES =
      "none,ext_attr,resize_inode,dir_index,filetype,extent,flex_bg,sparse_super,sparse_super2,"
          + "large_file,huge_file,dir_nlink,extra_isize,64bit";

  private Ext4Image() {}

  /** Creates a sparse file of {@code size} bytes at {@code image} holding an empty ext4. */
  static void create(Path image, long size) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      f.setLength(size);
    }
    Command.run(
        "mkfs.ext4 " + image,
        List.of(
            "mkfs.ext4",
            "-F",
            "-q",
            "-b",
            "4096",
            "-I",
            "256",
            "-i",
            "16384",
            "-m",
            "5",
            "-O",
            FEATURES,
            "-G",
            "1",
            "-E",
            "root_owner=0:0,hash_seed=" + FS_UUID,
            "-U",
            FS_UUID,
            image.toString()));
  }
}
