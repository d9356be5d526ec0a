package dev.obd.snapshotter.overlaybd;

/**
 * How a snapshot's data is stored, with upstream's numbering (persisted in the metadata). Ordinary
 * layers are overlayfs directories; block layers are OverlayBD layers, read through a block device.
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

  public static StorageType fromCode(int code) {
    for (StorageType t : values()) {
      if (t.code == code) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown storage type " + code);
  }
}
