package dev.obd.it.support;

import dev.obd.proto.containerd.types.Mount;
import dev.obd.testsupport.Mounts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Performs the mounts a snapshotter returns the way containerd's {@code mount.All} does, including
 * its workaround for overlay option strings longer than a page (many lower layers): the lowerdirs
 * are made relative to their common parent and mount(8) runs in that directory. Everything mounted
 * is unmounted by {@link #close}.
 */
public final class ContainerdMounts implements AutoCloseable {
  private static final int PAGE_SIZE = 4096;
  private final Mounts mounts = new Mounts();

  public void mountAll(List<Mount> specs, Path target) {
    for (Mount m : specs) {
      mount(m, target);
    }
  }

  private void mount(Mount m, Path target) {
    List<String> options = new ArrayList<>(m.getOptionsList());
    switch (m.getType()) {
      case "bind" -> {
        boolean recursive = options.remove("rbind");
        options.remove("bind");
        List<String> args = new ArrayList<>();
        args.add(recursive ? "--rbind" : "--bind");
        if (!options.isEmpty()) {
          args.add("-o");
          args.add(String.join(",", options));
        }
        args.add(m.getSource());
        mounts.mount(target, null, args.toArray(String[]::new));
      }
      case "overlay" -> {
        Path workDir = null;
        if (String.join(",", options).length() > PAGE_SIZE - 512) {
          workDir = compactLowerdir(options);
        }
        mounts.mount(
            target, workDir, "-t", "overlay", "-o", String.join(",", options), m.getSource());
      }
      default -> // a filesystem on a block device, e.g. {type: ext4, source: /dev/loop3}
          mounts.mount(
              target, null, "-t", m.getType(), "-o", String.join(",", options), m.getSource());
    }
  }

  /** Rewrites the lowerdir option relative to the common parent of its directories. */
  private static Path compactLowerdir(List<String> options) {
    for (int i = 0; i < options.size(); i++) {
      String o = options.get(i);
      if (!o.startsWith("lowerdir=")) {
        continue;
      }
      String[] dirs = o.substring("lowerdir=".length()).split(":");
      Path common = Path.of(dirs[0]).getParent();
      for (String d : dirs) {
        while (!Path.of(d).startsWith(common)) {
          common = common.getParent();
        }
      }
      List<String> relative = new ArrayList<>();
      for (String d : dirs) {
        relative.add(common.relativize(Path.of(d)).toString());
      }
      options.set(i, "lowerdir=" + String.join(":", relative));
      return common;
    }
    throw new IllegalArgumentException("overlay options too long but no lowerdir: " + options);
  }

  public void unmount(Path target) {
    mounts.unmount(target);
  }

  @Override
  public void close() {
    mounts.close();
  }
}
