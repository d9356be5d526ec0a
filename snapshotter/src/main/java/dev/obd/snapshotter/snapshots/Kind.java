package dev.obd.snapshotter.snapshots;

/**
 * The kind of a snapshot, as containerd defines it: a writable {@code ACTIVE} snapshot (prepared,
 * not yet committed), a read-only {@code VIEW}, or an immutable {@code COMMITTED} snapshot that
 * others may use as parent. The numeric codes are containerd's and are persisted.
 */
public enum Kind {
  VIEW(1, "view"),
  ACTIVE(2, "active"),
  COMMITTED(3, "committed");

  private final int code;
  private final String filterName;

  Kind(int code, String filterName) {
    this.code = code;
    this.filterName = filterName;
  }

  /** containerd's numeric value, shared by the protobuf enum and the metadata store. */
  public int code() {
    return code;
  }

  /** The value containerd's filter language compares {@code kind} against. */
  public String filterName() {
    return filterName;
  }

  public static Kind fromCode(int code) {
    for (Kind k : values()) {
      if (k.code == code) {
        return k;
      }
    }
    throw new IllegalArgumentException("unknown snapshot kind " + code);
  }
}
