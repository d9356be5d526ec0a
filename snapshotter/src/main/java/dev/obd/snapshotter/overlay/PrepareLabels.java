package dev.obd.snapshotter.overlay;

import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import dev.obd.snapshotter.overlaybd.Labels;
import dev.obd.snapshotter.overlaybd.RemoteLayer;
import dev.obd.snapshotter.overlaybd.TraceDirectory;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.LabelRules;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What the labels of one Prepare or View say, read and validated once when the call arrives: the
 * rest of the call acts on this value and reads no label key itself. The labels themselves are
 * stored unchanged ({@link #stored}; containerd reads them back), and what is read later from a
 * stored snapshot (its writable mode, whether it is an acceleration layer, its filesystem) is read
 * from the record's labels.
 *
 * <p>Here rather than beside {@link Labels} because it says which {@link RwMode} a container asks
 * for, and the configuration, which defines that, builds on the OverlayBD package.
 *
 * @param stored the labels as the snapshot keeps them: checked by {@link #storable}, without empty
 *     values
 * @param purpose what the snapshot is for
 * @param remote for {@link Layer#REMOTE_LAYER}, the layer in the registry: its chain id, blob and
 *     image; empty for every other kind
 * @param writable the writable mode the {@link Labels#WRITABLE} label asks for ({@code dir}, {@code
 *     dev}, anything else meaning overlayfs); empty without the label, when the configured {@code
 *     rwMode} applies. Only a container's rootfs on an OverlayBD image (or on nothing) uses it.
 * @param recordTracePath the trace file a container asks to record or replay ({@link
 *     Labels#RECORD_TRACE} {@code yes} and a {@link Labels#RECORD_TRACE_PATH}), not yet resolved:
 *     {@link TraceDirectory#resolve} confines it when it is written into an image's config, which
 *     happens only for a container on an OverlayBD image
 * @param fsType the filesystem {@link Labels#BLOB_FS_TYPE} declares; empty for the configured
 *     {@code defaultFsType}
 * @param vsizeGb the size in GB of a fresh writable device without parent ({@link Labels#VSIZE}),
 *     {@link #DEFAULT_VSIZE_GB} when the label is absent or not a size, as upstream
 */
record PrepareLabels(
    Map<String, String> stored,
    Purpose purpose,
    Optional<RemoteLayer> remote,
    Optional<RwMode> writable,
    Optional<String> recordTracePath,
    Optional<BlobFsType> fsType,
    int vsizeGb) {

  static final int DEFAULT_VSIZE_GB = 64;

  /** What a new snapshot is for, as its kind, key and labels tell. */
  enum Purpose {
    /** An active snapshot that is no layer being unpacked: a container's root filesystem. */
    CONTAINER,
    /** A read-only view. */
    VIEW,
    /** An active snapshot containerd unpacks an ordinary layer into ({@link LayerExtraction}). */
    EXTRACTION,
    /** The unpack of an acceleration layer, whose tar holds an image's prefetch trace. */
    ACCELERATION_LAYER,
    /**
     * The unpack of an OverlayBD layer in the registry: recorded as committed and answered with
     * ALREADY_EXISTS, so that containerd downloads nothing.
     */
    REMOTE_LAYER;

    /** Whether a layer is unpacked into the snapshot (no image device below it then). */
    boolean unpacksLayer() {
      return this == EXTRACTION || this == ACCELERATION_LAYER || this == REMOTE_LAYER;
    }
  }

  PrepareLabels {
    stored = Map.copyOf(stored);
  }

  /**
   * Reads and validates the labels of a Prepare ({@link Kind#ACTIVE}) or View of {@code key}.
   *
   * @throws dev.obd.snapshotter.errdefs.InvalidArgumentException naming the first label that is too
   *     large, not allowed or malformed ({@link LabelRules}, {@link BlobFsType}, {@link
   *     RemoteLayer})
   */
  static PrepareLabels parse(Kind kind, String key, Map<String, String> labels) {
    LabelRules.validate(labels);
    Optional<BlobFsType> fsType = BlobFsType.declared(labels);
    Map<String, String> stored = withoutEmptyValues(labels);
    boolean extraction = LayerExtraction.recognises(kind, key, stored);
    boolean acceleration = extraction && "yes".equals(stored.get(Labels.ACCELERATION_LAYER));
    // from the labels as given: an empty snapshot.ref with the blob labels is refused, not ignored
    Optional<RemoteLayer> remote =
        kind == Kind.ACTIVE && !acceleration ? RemoteLayer.from(labels) : Optional.empty();
    Purpose purpose;
    if (kind != Kind.ACTIVE) {
      purpose = Purpose.VIEW;
    } else if (!extraction) {
      purpose = Purpose.CONTAINER;
    } else if (acceleration) {
      purpose = Purpose.ACCELERATION_LAYER;
    } else {
      purpose = remote.isPresent() ? Purpose.REMOTE_LAYER : Purpose.EXTRACTION;
    }
    Optional<RwMode> writable =
        Optional.ofNullable(stored.get(Labels.WRITABLE)).map(PrepareLabels::writableMode);
    Optional<String> trace =
        "yes".equals(stored.get(Labels.RECORD_TRACE))
            ? Optional.ofNullable(stored.get(Labels.RECORD_TRACE_PATH))
            : Optional.empty();
    return new PrepareLabels(
        stored, purpose, remote, writable, trace, fsType, vsizeGb(stored.get(Labels.VSIZE)));
  }

  /**
   * Labels as containerd's store keeps them, for any call that sets them (Prepare, View, Commit,
   * Update): validated (containerd's limits, ours on their total, and the filesystem label the
   * OverlayBD side reads), and without empty values (an empty value means "no such label").
   *
   * @throws dev.obd.snapshotter.errdefs.InvalidArgumentException naming the first label that is too
   *     large or not allowed
   */
  static Map<String, String> storable(Map<String, String> labels) {
    LabelRules.validate(labels);
    BlobFsType.declared(labels);
    return withoutEmptyValues(labels);
  }

  /** The mode a {@link Labels#WRITABLE} label's value names; overlayfs for any other value. */
  static RwMode writableMode(String value) {
    return switch (value) {
      case "dir" -> RwMode.DIR;
      case "dev" -> RwMode.DEV;
      default -> RwMode.OVERLAYFS;
    };
  }

  private static Map<String, String> withoutEmptyValues(Map<String, String> labels) {
    Map<String, String> kept = new HashMap<>(labels);
    kept.values().removeIf(String::isEmpty);
    return kept;
  }

  private static int vsizeGb(String value) {
    try {
      int gb = Integer.parseInt(value == null ? "" : value);
      return gb > 0 && gb <= 1 << 20 ? gb : DEFAULT_VSIZE_GB;
    } catch (NumberFormatException e) {
      return DEFAULT_VSIZE_GB; // as upstream: an unparseable size means the default
    }
  }
}
