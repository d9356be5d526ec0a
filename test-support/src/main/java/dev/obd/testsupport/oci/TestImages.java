package dev.obd.testsupport.oci;

import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Images the end-to-end tests build from Debian's static busybox, without any download. Each keeps
 * what it tests under {@code /data}.
 */
public final class TestImages {
  private static final List<String> APPLETS =
      List.of(
          "sh",
          "ls",
          "find",
          "sort",
          "stat",
          "readlink",
          "sha256sum",
          "cut",
          "cat",
          "echo",
          "sleep",
          "grep",
          "wc",
          "head",
          "tail",
          "date",
          "touch",
          "mkdir",
          "rm",
          "true",
          "test");

  private TestImages() {}

  /** The base layer: /bin/busybox, its applets, and the directories a container needs. */
  public static TarLayer busybox() {
    Path busybox = Path.of("/bin/busybox");
    Requirements.require(
        Files.isRegularFile(busybox), "needs /bin/busybox (Debian busybox-static)");
    byte[] binary;
    try {
      binary = Files.readAllBytes(busybox);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    TarLayer l = new TarLayer().dir("bin", 0755).file("bin/busybox", 0755, binary);
    APPLETS.forEach(a -> l.symlink("bin/" + a, "busybox"));
    for (String d : List.of("dev", "proc", "sys", "etc", "tmp", "run")) {
      l.dir(d, d.equals("tmp") ? 01777 : 0755);
    }
    return l.file("etc/motd", 0644, "hello from obd-snapshotter tests\n");
  }

  /**
   * Four layers that exercise what overlayfs snapshots must get right: whiteouts of files and
   * directories, an opaque directory, hard links (within a layer, as image builders write them:
   * containerd's applier, like Docker's, refuses a link to a file of a lower layer), symbolic links
   * (retargeted), an xattr, device nodes and a FIFO, owners and modes, a directory deleted and
   * recreated, files changed in upper layers.
   */
  public static OciImage tree(String name) {
    TarLayer data =
        new TarLayer()
            .dir("data", 0755)
            .file("data/keep", 0644, "kept\n")
            .file("data/gone", 0644, "to be deleted\n")
            .dir("data/dir-gone", 0755)
            .file("data/dir-gone/a", 0644, "a\n")
            .dir("data/dir-gone/nested", 0700)
            .file("data/dir-gone/nested/b", 0600, "b\n")
            .dir("data/opq", 0755)
            .file("data/opq/lower1", 0644, "lower 1\n")
            .file("data/opq/lower2", 0644, "lower 2\n")
            .dir("data/recreate", 0755)
            .file("data/recreate/old", 0644, "old\n")
            .add(file("data/owned", 0600, "owned by 1000:1001\n").withOwner(1000, 1001))
            .file("data/exec", 0750, "#!/bin/sh\necho exec\n")
            .symlink("data/link", "keep")
            .hardlink("data/hard", "data/keep")
            .add(file("data/xattr", 0644, "has an xattr\n").withXattr("user.obd.test", "hello"))
            .charDevice("data/null", 0666, 1, 3)
            .fifo("data/fifo", 0644)
            .dir("data/sub", 0755)
            .dir("data/sub/deep", 0711)
            .file("data/sub/deep/file", 0444, "deep\n");
    TarLayer changes =
        new TarLayer()
            .whiteout("data/gone")
            .whiteout("data/dir-gone")
            .dir("data/opq", 0755)
            .opaque("data/opq")
            .file("data/opq/upper", 0644, "only this one\n")
            .whiteout("data/recreate")
            .file("data/keep", 0644, "kept, then changed\n")
            .file("data/exec", 0700, "#!/bin/sh\necho changed\n")
            .whiteout("data/link")
            .symlink("data/link", "sub/deep/file");
    TarLayer more =
        new TarLayer()
            .dir("data/recreate", 0750)
            .file("data/recreate/new", 0644, "recreated\n")
            .file("data/sub/linked", 0640, "linked twice in its own layer\n")
            .hardlink("data/hard2", "data/sub/linked")
            .add(dirEntry("data/sub", 0775).withOwner(2000, 2000))
            .file("data/sub/added", 0664, "added later\n");
    return new OciImage(name, List.of(busybox(), data, changes, more), List.of("/bin/sh"));
  }

  /** {@code count} layers: each adds /data/layer-N and rewrites /data/top; some delete. */
  /**
   * busybox, then {@code count} layers each holding {@code bytesEach} random (incompressible) bytes
   * in {@code /data/blob-<i>} and replacing {@code /data/top} with "top is layer <i>"; the same
   * bytes for the same seed.
   */
  public static OciImage randomLayers(int count, int bytesEach, long seed) {
    Random rnd = new Random(seed);
    List<TarLayer> layers = new ArrayList<>();
    layers.add(busybox().dir("data", 0755));
    for (int i = 1; i <= count; i++) {
      byte[] blob = new byte[bytesEach];
      rnd.nextBytes(blob);
      layers.add(
          new TarLayer()
              .file("data/blob-" + i, 0644, blob)
              .file("data/top", 0644, "top is layer " + i + "\n"));
    }
    return new OciImage("unused", layers, List.of("/bin/cat", "/data/top"));
  }

  public static OciImage manyLayers(String name, int count) {
    List<TarLayer> layers = new ArrayList<>();
    layers.add(busybox().dir("data", 0755));
    for (int i = 1; i < count; i++) {
      TarLayer l =
          new TarLayer()
              .file("data/layer-" + i, 0644, "layer " + i + "\n")
              .file("data/top", 0644, "top is layer " + i + "\n");
      if (i % 10 == 0) {
        l.whiteout("data/layer-" + (i - 5));
      }
      layers.add(l);
    }
    return new OciImage(name, layers, List.of("/bin/cat", "/data/top"));
  }

  /** A two-layer image whose /data/id holds {@code id}. */
  public static OciImage small(String name, String id) {
    TarLayer l = new TarLayer().dir("data", 0755).file("data/id", 0644, id + "\n");
    return new OciImage(name, List.of(busybox(), l), List.of("/bin/cat", "/data/id"));
  }

  private static TarLayer.Entry file(String path, int mode, String content) {
    return new TarLayer().file(path, mode, content).entries().get(0);
  }

  private static TarLayer.Entry dirEntry(String path, int mode) {
    return new TarLayer().dir(path, mode).entries().get(0);
  }
}
