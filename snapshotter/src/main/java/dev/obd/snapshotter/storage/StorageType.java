package dev.obd.snapshotter.storage;

/**
 * How a snapshot's data is stored, with upstream's numbering, which is what the metadata's {@code
 * storage_type} column holds. Ordinary layers are overlayfs directories; block layers are OverlayBD
 * layers, read through a block device. It lives with the metastore, which persists it and records
 * every new snapshot as {@link #NORMAL}, so that the metastore needs nothing of the OverlayBD
 * support.
 */
public enum StorageType {
  /** An unpacked tar layer: an overlayfs directory. */
  NORMAL(1),
  /** An OverlayBD layer file present locally: downloaded whole, or a sealed writable layer. */
  LOCAL_BLOCK(2),
  /** An OverlayBD layer in the registry, fetched on demand; nothing unpacked locally. */
  REMOTE_BLOCK(3);

  private final int code;

  StorageType(int code) {
    this.code = code;
  }

  public int code() {
    return code;
  }

  public boolean isBlock() {
    return this != NORMAL;
  }

  /**
   * @throws IllegalArgumentException when {@code code} is none of upstream's
   */
  public static StorageType fromCode(int code) {
    for (StorageType t : values()) {
      if (t.code == code) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown storage type " + code);
  }
}
