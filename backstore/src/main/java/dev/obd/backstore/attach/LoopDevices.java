package dev.obd.backstore.attach;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Loop devices: attach with losetup, detach only when unused, and swap the backing file of a
 * read-only loop device in place ({@code LOOP_CHANGE_FD}), which the kernel allows exactly for
 * read-only devices of the same size. The swap is what lets a mounted filesystem survive a
 * backstore restart on the nbdfuse path.
 */
final class LoopDevices {
  private static final long LOOP_CHANGE_FD = 0x4C06;
  private static final int O_EXCL = 0x80;

  private LoopDevices() {}

  static String attach(Path file, boolean readOnly, Duration deadline) throws AttachException {
    List<String> cmd =
        readOnly
            ? List.of("losetup", "--find", "--show", "--read-only", file.toString())
            : List.of("losetup", "--find", "--show", file.toString());
    String out = Commands.run("attach loop device to " + file, cmd, deadline);
    if (!out.startsWith("/dev/loop")) {
      throw new AttachException(
          "attach loop device to " + file + ": losetup printed '" + out + "'");
    }
    return out.lines().reduce((a, b) -> b).orElse(out).trim();
  }

  /** Whether something (a mount) holds the device: an exclusive open fails with EBUSY then. */
  static boolean inUse(String device) {
    LibC libc = LibC.get();
    int fd = libc.open(device, LibC.O_RDONLY | O_EXCL | LibC.O_CLOEXEC);
    if (fd < 0) {
      return LibC.errno() == 16; // EBUSY
    }
    libc.close(fd);
    return false;
  }

  static void detach(String device, Duration deadline) throws AttachException {
    Commands.run("detach loop device " + device, List.of("losetup", "--detach", device), deadline);
  }

  /** The backing file losetup reports, or "" if the device is not bound. */
  static String backingFile(String device) {
    Path p =
        Path.of("/sys/block", Path.of(device).getFileName().toString(), "loop", "backing_file");
    try {
      return Files.readString(p).trim();
    } catch (java.io.IOException e) {
      return "";
    }
  }

  private static String sizeOf(Path p) {
    try {
      return Long.toString(Files.size(p));
    } catch (java.io.IOException e) {
      return e.toString();
    }
  }

  private static String readOnlyFlag(String device) {
    try {
      return Files.readString(Path.of("/sys/block", Path.of(device).getFileName().toString(), "ro"))
          .trim();
    } catch (java.io.IOException e) {
      return "?";
    }
  }

  static void changeBackingFile(String device, Path newFile) throws AttachException {
    LibC libc = LibC.get();
    int loop = libc.open(device, LibC.O_RDONLY | LibC.O_CLOEXEC);
    if (loop < 0) {
      throw new AttachException(
          "open " + device + " to swap its backing file: " + LibC.describeErrno(LibC.errno()));
    }
    try {
      int file = libc.open(newFile.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
      if (file < 0) {
        throw new AttachException("open " + newFile + ": " + LibC.describeErrno(LibC.errno()));
      }
      try {
        if (libc.ioctl(loop, LOOP_CHANGE_FD, file) != 0) {
          throw new AttachException(
              "LOOP_CHANGE_FD on "
                  + device
                  + " to "
                  + newFile
                  + ": "
                  + LibC.describeErrno(LibC.errno())
                  + " [old backing "
                  + backingFile(device)
                  + " size "
                  + sizeOf(Path.of(backingFile(device)))
                  + ", new size "
                  + sizeOf(newFile)
                  + ", ro "
                  + readOnlyFlag(device)
                  + "]");
        }
      } finally {
        libc.close(file);
      }
    } finally {
      libc.close(loop);
    }
  }
}
