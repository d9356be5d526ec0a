package dev.obd.image.convert;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A raw file system image attached to a loop device and mounted; {@link #close()} unmounts and
 * detaches, also after a failure half way. Needs root.
 */
final class LoopMount implements AutoCloseable {
  private final String device;
  private final Path mountPoint;
  private boolean mounted;

  private LoopMount(String device, Path mountPoint) {
    this.device = device;
    this.mountPoint = mountPoint;
  }

  /** Attaches {@code image} and mounts its ext4 read-write at {@code mountPoint}. */
  static LoopMount mount(Path image, Path mountPoint) throws IOException {
    Files.createDirectories(mountPoint);
    String dev =
        Command.run("attach " + image, List.of("losetup", "--find", "--show", image.toString()))
            .strip();
    LoopMount m = new LoopMount(dev, mountPoint);
    try {
      // barrier=0: a file's fsync (see LayerApplier) need not flush the loop device's backing
      // file; the image is complete when it is unmounted, and a crash loses the conversion anyway.
      // nodelalloc,dioread_lock: a write turns the blocks LayerApplier preallocated (unwritten
      // extents) into written ones at once, in the writing thread. Otherwise the flusher converts
      // them when it writes the pages back, which on a busy machine is part way through a file
      // and out of order: the file's extents split past what the inode holds, an extent block is
      // allocated (and freed again when they merge), and the next directory or file takes
      // another block than it would on a quiet machine.
      Command.run(
          "mount " + dev + " (" + image + ")",
          List.of(
              "mount",
              "-t",
              "ext4",
              "-o",
              "noatime,barrier=0,mb_optimize_scan=0,no_prefetch_block_bitmaps,nodelalloc,dioread_lock",
              dev,
              mountPoint.toString()));
      m.mounted = true;
      streamAllocation(dev);
      return m;
    } catch (IOException | RuntimeException e) {
      try {
        m.close();
      } catch (IOException ce) {
        e.addSuppressed(ce);
      }
      throw e;
    }
  }

  /**
   * Small files are otherwise placed from a preallocation of the CPU the writing thread happens to
   * run on (ext4's per-CPU locality groups), so the same files land in other blocks from run to
   * run. With {@code mb_stream_req} 0 every file is allocated in the order it is written.
   */
  private static void streamAllocation(String dev) throws IOException {
    Path knob = Path.of("/sys/fs/ext4", Path.of(dev).getFileName().toString(), "mb_stream_req");
    if (!Files.exists(knob)) {
      throw new IOException(
          "mount " + dev + ": " + knob + " is missing, so block allocation cannot be made stable");
    }
    Files.writeString(knob, "0");
  }

  Path root() {
    return mountPoint;
  }

  @Override
  public void close() throws IOException {
    IOException failure = null;
    if (mounted) {
      try {
        Command.run("unmount " + mountPoint, List.of("umount", mountPoint.toString()));
        mounted = false;
      } catch (IOException e) {
        failure = e;
      }
    }
    if (!mounted) {
      try {
        Command.run("detach " + device, List.of("losetup", "-d", device));
      } catch (IOException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }
}
