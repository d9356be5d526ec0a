package dev.obd.snapshotter.snapshots;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;

/**
 * What containerd sees of a snapshot: its name (the key of an active snapshot or view, or the name
 * of a committed one), the name of its parent ({@code ""} when it has none), its kind, its labels
 * and its creation and last-update times.
 */
public record Info(
    String name,
    String parent,
    Kind kind,
    Map<String, String> labels,
    Instant created,
    Instant updated) {

  public Info {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(parent, "parent");
    Objects.requireNonNull(kind, "kind");
    labels = Map.copyOf(labels);
    Objects.requireNonNull(created, "created");
    Objects.requireNonNull(updated, "updated");
  }
}
