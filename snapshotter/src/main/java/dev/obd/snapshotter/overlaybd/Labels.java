package dev.obd.snapshotter.overlaybd;

/**
 * Every snapshot label the snapshotter reads or writes, with upstream's exact keys. containerd
 * forwards to a snapshotter only layer annotations that start with {@code containerd.io/snapshot/}
 * (plus {@code containerd.io/snapshot.ref}), which is why they all share that prefix.
 */
public final class Labels {
  private Labels() {}

  /**
   * Set by containerd's unpacker on each layer's Prepare during a pull: the chain id the layer will
   * be committed under. Marks a Prepare as "unpack a layer", not a container's rootfs.
   */
  public static final String SNAPSHOT_REF = "containerd.io/snapshot.ref";

  /** Image reference, set by {@code ctr rpull} and nerdctl on layer Prepares. */
  public static final String IMAGE_REF = "containerd.io/snapshot/image-ref";

  /** Image reference, set by containerd's CRI plugin (kubelet pulls) on layer Prepares. */
  public static final String CRI_IMAGE_REF = "containerd.io/snapshot/cri.image-ref";

  /** Layer annotation written by the OverlayBD convertor: the digest of the OverlayBD blob. */
  public static final String BLOB_DIGEST = "containerd.io/snapshot/overlaybd/blob-digest";

  /** Layer annotation written by the OverlayBD convertor: the blob's size in bytes (decimal). */
  public static final String BLOB_SIZE = "containerd.io/snapshot/overlaybd/blob-size";

  /**
   * Layer annotation: {@code fstype[;mountopts[;mkfsopts]]} of the layer's filesystem; absent means
   * the configured {@code defaultFsType}.
   */
  public static final String BLOB_FS_TYPE = "containerd.io/snapshot/overlaybd/blob-fs-type";

  /** Layer annotation written by the convertor ({@code 0.1.0}); not read. */
  public static final String VERSION = "containerd.io/snapshot/overlaybd/version";

  /** Layer annotation {@code yes}: the top layer holds a prefetch trace, not filesystem data. */
  public static final String ACCELERATION_LAYER =
      "containerd.io/snapshot/overlaybd/acceleration-layer";

  /** Container label {@code yes}: record or replay an I/O trace for prefetching. */
  public static final String RECORD_TRACE = "containerd.io/snapshot/overlaybd/record-trace";

  /** Container label: where the trace is recorded (an empty file) or replayed from. */
  public static final String RECORD_TRACE_PATH =
      "containerd.io/snapshot/overlaybd/record-trace-path";

  /**
   * Container label ({@code --snapshotter-label}, BuildKit): {@code dir} or {@code dev} gives the
   * container its own writable OverlayBD device instead of overlayfs; overrides {@code rwMode}.
   */
  public static final String WRITABLE = "containerd.io/snapshot/overlaybd.writable";

  /** Container label: size in GB of a fresh writable device without parent (default 64). */
  public static final String VSIZE = "containerd.io/snapshot/overlaybd/vsize";

  /** Forces "not a container rootfs" handling, value {@code image}. */
  public static final String SNAPSHOT_TYPE = "containerd.io/snapshot/type";

  /** Written by the snapshotter on layers committed as remote snapshots. */
  public static final String REMOTE = "containerd.io/snapshot/remote";

  /** The value of {@link #REMOTE}, as upstream writes it. */
  public static final String REMOTE_VALUE = "remote snapshot";

  /**
   * Written by the snapshotter on committed local block layers (downloaded, sealed): the path of
   * the layer file. BuildKit and the convertor read it.
   */
  public static final String LOCAL_COMMIT_PATH = "containerd.io/snapshot/overlaybd.localcommitpath";
}
