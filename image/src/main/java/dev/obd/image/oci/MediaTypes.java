package dev.obd.image.oci;

/** Media types of OCI and Docker images that the converter reads and writes. */
public final class MediaTypes {
  public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  public static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

  /** What OverlayBD layers are published as: a plain tar (the wrapper) with annotations. */
  public static final String OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar";

  public static final String DOCKER_MANIFEST_LIST =
      "application/vnd.docker.distribution.manifest.list.v2+json";
  public static final String DOCKER_MANIFEST =
      "application/vnd.docker.distribution.manifest.v2+json";

  /** Annotation naming a manifest in an OCI layout's index.json. */
  public static final String REF_NAME = "org.opencontainers.image.ref.name";

  /** OverlayBD layer annotations (accelerated-container-image pkg/label). */
  public static final String OBD_BLOB_DIGEST = "containerd.io/snapshot/overlaybd/blob-digest";

  public static final String OBD_BLOB_SIZE = "containerd.io/snapshot/overlaybd/blob-size";
  public static final String OBD_VERSION = "containerd.io/snapshot/overlaybd/version";
  public static final String OBD_FS_TYPE = "containerd.io/snapshot/overlaybd/blob-fs-type";

  /** The value of {@link #OBD_VERSION} the official convertor writes. */
  public static final String OBD_VERSION_VALUE = "0.1.0";

  private MediaTypes() {}

  public static boolean isIndex(String mediaType) {
    return OCI_INDEX.equals(mediaType) || DOCKER_MANIFEST_LIST.equals(mediaType);
  }

  public static boolean isManifest(String mediaType) {
    return OCI_MANIFEST.equals(mediaType) || DOCKER_MANIFEST.equals(mediaType);
  }
}
