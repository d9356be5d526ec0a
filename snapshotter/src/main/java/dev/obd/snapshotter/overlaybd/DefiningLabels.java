package dev.obd.snapshotter.overlaybd;

import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.errdefs.FailedPreconditionException;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The labels that say what an OverlayBD (block) snapshot is, fixed once it exists. Each is read
 * after the snapshot was created, by this snapshotter or by others, and describes what its
 * config.v1.json and files already hold; rewriting one by Update would make the label lie about the
 * layer or steer a reader elsewhere:
 *
 * <ul>
 *   <li>{@link Labels#BLOB_FS_TYPE}: read whenever the layer's device is mounted;
 *   <li>{@link Labels#ACCELERATION_LAYER}: read at each container's Prepare on the image;
 *   <li>{@link Labels#WRITABLE}: the mode of a writable container, read by Mounts, Commit, Remove
 *       and reconciliation;
 *   <li>{@link Labels#SNAPSHOT_REF}: containerd finds a remote layer by it after ALREADY_EXISTS;
 *   <li>{@link Labels#REMOTE}: BuildKit tells remote snapshots by it;
 *   <li>{@link Labels#LOCAL_COMMIT_PATH}: BuildKit and the convertor open the file it names;
 *   <li>{@link Labels#BLOB_DIGEST}, {@link Labels#BLOB_SIZE}, {@link Labels#IMAGE_REF}, {@link
 *       Labels#CRI_IMAGE_REF}: the blob and repository config.v1.json was written from.
 * </ul>
 */
public final class DefiningLabels {
  public static final Set<String> KEYS =
      Set.of(
          Labels.BLOB_FS_TYPE,
          Labels.ACCELERATION_LAYER,
          Labels.WRITABLE,
          Labels.SNAPSHOT_REF,
          Labels.REMOTE,
          Labels.LOCAL_COMMIT_PATH,
          Labels.BLOB_DIGEST,
          Labels.BLOB_SIZE,
          Labels.IMAGE_REF,
          Labels.CRI_IMAGE_REF);

  private DefiningLabels() {}

  /**
   * Checks an Update of block snapshot {@code name} from {@code before} to {@code after}: every
   * defining label keeps its value (an Update that repeats it is fine), none is added or removed.
   *
   * @throws FailedPreconditionException naming the first label that would change
   */
  public static void requireUnchanged(
      String name, Map<String, String> before, Map<String, String> after) {
    for (String key : new TreeSet<>(KEYS)) {
      String was = before.get(key);
      String is = after.get(key);
      if (!Objects.equals(was, is)) {
        throw new FailedPreconditionException(
            "label "
                + key
                + " of OverlayBD snapshot "
                + Excerpt.of(name)
                + " cannot be "
                + (was == null ? "added" : is == null ? "removed" : "changed")
                + " by Update: it says what the layer is");
      }
    }
  }
}
