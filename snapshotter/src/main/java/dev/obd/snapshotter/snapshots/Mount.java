package dev.obd.snapshotter.snapshots;

import java.util.List;
import java.util.Objects;

/**
 * One mount the caller performs to use a snapshot, in mount(2) terms. The snapshotter only
 * describes mounts; containerd performs them.
 */
public record Mount(String type, String source, List<String> options) {

  public Mount {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(source, "source");
    options = List.copyOf(options);
  }

  /** A bind mount of {@code source}, read-only or read-write, recursive as containerd's are. */
  public static Mount bind(String source, boolean readOnly) {
    return new Mount("bind", source, List.of(readOnly ? "ro" : "rw", "rbind"));
  }
}
