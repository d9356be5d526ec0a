package dev.obd.image;

import java.util.List;

/**
 * The names OverlayBD gives a layer's file on disk, as overlaybd-tcmu and the snapshotter use them:
 * the one list every module looks them up in.
 */
public final class LayerFiles {
  /** A committed layer: downloaded whole, converted, or committed from a writable one. */
  public static final String COMMIT = "overlaybd.commit";

  /** The name older tools gave a committed layer in its directory. */
  public static final String OLD_COMMIT = ".commit";

  /** A writable layer's data sealed in place (read-only, not yet committed). */
  public static final String SEALED = "overlaybd.sealed";

  /**
   * The files overlaybd-tcmu looks for in a lower's {@code dir}, in its order: the first present
   * holds the layer.
   */
  public static final List<String> IN_LAYER_DIR = List.of(COMMIT, OLD_COMMIT, SEALED);

  private LayerFiles() {}
}
