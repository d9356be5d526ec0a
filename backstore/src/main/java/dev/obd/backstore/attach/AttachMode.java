package dev.obd.backstore.attach;

/** How a device reaches the kernel. */
public enum AttachMode {
  /** {@code /dev/nbdN} through the kernel's nbd driver, configured over netlink. */
  KERNEL_NBD("nbd"),
  /** nbdfuse exposes the export as a file on a FUSE mount; a read-only loop device maps it. */
  FUSE_LOOP("fuse");

  private final String configName;

  AttachMode(String configName) {
    this.configName = configName;
  }

  /** The name used in the config file and the control API. */
  public String configName() {
    return configName;
  }
}
