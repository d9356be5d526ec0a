package dev.obd.it.core;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Nested;

/**
 * The snapshotter contract ({@link SnapshotterConformance}) under each configuration that changes
 * how the daemon keeps ordinary snapshots, the way containerd runs its suite over its overlayfs
 * snapshotter's option sets: each nested class starts a daemon of its own.
 */
class SnapshotterConformanceTest {
  /** Embedded defaults (no config.json): directories are deleted when Remove returns. */
  @Nested
  class SynchronousRemoval extends SnapshotterConformance {
    SynchronousRemoval() {
      super(null, false);
    }
  }

  /** {@code asyncRemove}: Remove leaves deleting the directories to Cleanup. */
  @Nested
  class AsynchronousRemoval extends SnapshotterConformance {
    AsynchronousRemoval() {
      super("{\"asyncRemove\": true}", true);
    }
  }

  /**
   * The config.json daemon-config installs on a node: the OverlayBD snapshotter's keys, containers
   * on overlayfs ({@code rwMode: overlayfs}); for ordinary layers nothing may differ.
   */
  @Nested
  class ShippedOverlayBdConfiguration extends SnapshotterConformance {
    ShippedOverlayBdConfiguration() {
      super(shippedConfig(), false);
    }
  }

  private static String shippedConfig() {
    Path file = Path.of(System.getProperty("obd.daemonConfigDir"), "config.json");
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException("read the shipped configuration " + file, e);
    }
  }
}
