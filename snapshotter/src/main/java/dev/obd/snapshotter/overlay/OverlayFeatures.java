package dev.obd.snapshotter.overlay;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Options every overlay mount carries, decided once from the running kernel as containerd does:
 * {@code index=off} when the kernel has the overlay index feature (it must be off for containerd's
 * layer sharing), {@code userxattr} when running inside a user namespace.
 */
public final class OverlayFeatures {
  private OverlayFeatures() {}

  public static List<String> detect() {
    List<String> options = new ArrayList<>();
    if (Files.exists(Path.of("/sys/module/overlay/parameters/index"))) {
      options.add("index=off");
    }
    if (inUserNamespace()) {
      options.add("userxattr");
    }
    return List.copyOf(options);
  }

  /** True unless the uid map is the identity over the whole range (the initial namespace). */
  static boolean inUserNamespace() {
    try {
      String map = Files.readString(Path.of("/proc/self/uid_map")).trim();
      return !map.matches("0\\s+0\\s+4294967295");
    } catch (IOException e) {
      return false;
    }
  }
}
