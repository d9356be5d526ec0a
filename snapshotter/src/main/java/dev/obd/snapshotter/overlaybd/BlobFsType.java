package dev.obd.snapshotter.overlaybd;

import dev.obd.snapshotter.device.Mkfs;
import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The filesystem of an OverlayBD layer's device and the options it is mounted with, from the
 * layer's {@link Labels#BLOB_FS_TYPE} label, {@code fstype[;mountopts[;mkfsopts]]}, checked against
 * allow-lists. The label is a layer annotation: the image's author writes it and CRI passes it to
 * Prepare unchanged, so nothing in it may choose a mount flag, a host path or a command argument.
 *
 * <ul>
 *   <li>The filesystem is one of {@link #FILESYSTEMS}: upstream's list less ntfs, which upstream
 *       mounts with the external {@code mount -t ntfs} (ntfs-3g) while this snapshotter mounts only
 *       with mount(2).
 *   <li>Mount options come from a fixed list per filesystem of options the kernel takes in
 *       mount(2)'s data string and that only tune the filesystem: never {@code rw} (it would make
 *       the shared read-only image's superblock writable), never a mount flag a caller's mount
 *       parser would honour ({@code exec}, {@code suid}, {@code dev}, {@code remount}, {@code
 *       bind}), never an option with a value (which could name a path, a device or a security
 *       context). Without options, upstream's defaults apply: {@code discard} for ext4, {@code
 *       nouuid,discard} for xfs.
 *   <li>mkfs options are refused: a fresh writable device is formatted with {@link Mkfs}'s fixed
 *       options. The convertor never writes this field; refusing it, rather than ignoring it, tells
 *       whoever set it that it has no effect.
 * </ul>
 *
 * @param type the filesystem, one of {@link #FILESYSTEMS}
 * @param mountOptions the options it is mounted with, each allowed for {@code type}
 */
public record BlobFsType(String type, List<String> mountOptions) {
  /** The filesystems a layer may declare. */
  public static final Set<String> FILESYSTEMS = Set.of("ext4", "xfs", "f2fs", "erofs");

  /**
   * Per filesystem, the mount options a label may give, each verified to be accepted by mount(2) on
   * kernel 6.18 for ext4, xfs and erofs (f2fs's are its documented equivalents).
   */
  private static final Map<String, Set<String>> MOUNT_OPTIONS =
      Map.of(
          "ext4",
          Set.of(
              "ro",
              "discard",
              "nodiscard",
              "noload",
              "norecovery",
              "acl",
              "user_xattr",
              "barrier",
              "nobarrier",
              "delalloc",
              "nodelalloc",
              "dioread_nolock",
              "block_validity",
              "lazytime",
              "nolazytime"),
          "xfs",
          Set.of(
              "ro",
              "discard",
              "nodiscard",
              "norecovery",
              "nouuid",
              "inode64",
              "largeio",
              "nolargeio",
              "wsync",
              "lazytime",
              "nolazytime"),
          "f2fs",
          Set.of("ro", "discard", "nodiscard", "norecovery", "lazytime", "nolazytime"),
          "erofs",
          Set.of("ro", "acl", "noacl", "user_xattr", "nouser_xattr"));

  private static final Map<String, List<String>> DEFAULT_OPTIONS =
      Map.of("ext4", List.of("discard"), "xfs", List.of("nouuid", "discard"));

  public BlobFsType {
    mountOptions = List.copyOf(mountOptions);
  }

  /** {@code type} with upstream's default mount options. */
  public static BlobFsType defaults(String type) {
    if (!FILESYSTEMS.contains(type)) {
      throw new IllegalArgumentException("unsupported filesystem " + type);
    }
    return new BlobFsType(type, DEFAULT_OPTIONS.getOrDefault(type, List.of()));
  }

  /**
   * The filesystem {@code labels} declare, or {@code defaultFsType} with its defaults when they
   * declare none.
   *
   * @throws InvalidArgumentException naming the label when its value is not allowed
   */
  public static BlobFsType of(Map<String, String> labels, String defaultFsType) {
    return declared(labels).orElseGet(() -> defaults(defaultFsType));
  }

  /**
   * The filesystem the {@link Labels#BLOB_FS_TYPE} label of {@code labels} declares, checked; empty
   * when there is no such label or it is empty.
   *
   * @throws InvalidArgumentException naming the label when its value is not allowed
   */
  public static Optional<BlobFsType> declared(Map<String, String> labels) {
    String value = labels.get(Labels.BLOB_FS_TYPE);
    return value == null || value.isEmpty() ? Optional.empty() : Optional.of(parse(value));
  }

  /**
   * Parses a label value {@code fstype[;mountopts[;mkfsopts]]}; an empty {@code mountopts} means
   * the defaults, an empty {@code mkfsopts} is accepted.
   *
   * @throws InvalidArgumentException naming the label and the part that is not allowed
   */
  public static BlobFsType parse(String value) {
    String[] parts = value.split(";", 3);
    String type = parts[0];
    if (!FILESYSTEMS.contains(type)) {
      throw invalid(
          value,
          "filesystem \""
              + Excerpt.of(type)
              + "\" is not supported (supported: "
              + sorted(FILESYSTEMS)
              + ")");
    }
    if (parts.length > 2 && !parts[2].isEmpty()) {
      throw invalid(
          value,
          "mkfs options cannot be given by a label (fresh devices are formatted with fixed"
              + " options)");
    }
    if (parts.length < 2 || parts[1].isEmpty()) {
      return defaults(type);
    }
    Set<String> allowed = MOUNT_OPTIONS.get(type);
    List<String> options = new ArrayList<>();
    for (String option : parts[1].split(",", -1)) {
      if (!allowed.contains(option)) {
        throw invalid(
            value,
            "mount option \""
                + Excerpt.of(option)
                + "\" is not allowed for "
                + type
                + " (allowed: "
                + sorted(allowed)
                + ")");
      }
      options.add(option);
    }
    return new BlobFsType(type, options);
  }

  /** The mount options a label may give for {@code type}, one of {@link #FILESYSTEMS}. */
  static Set<String> allowedMountOptions(String type) {
    return MOUNT_OPTIONS.get(type);
  }

  /** The mount options as mount(2)'s data string. */
  public String mountData() {
    return String.join(",", mountOptions);
  }

  /**
   * This filesystem as it is to be mounted from a device whose superblock says {@code detected}:
   * itself when they agree, else {@code detected} with its default options (upstream mounts an
   * EROFS device as erofs whatever the label says; the declared type's options may not apply).
   */
  public BlobFsType asDetected(String detected) {
    return detected.equals(type) ? this : defaults(detected);
  }

  /**
   * @return this, when a fresh writable device (one without a parent image) can be formatted with
   *     it
   * @throws InvalidArgumentException when it cannot, such as read-only erofs
   */
  public BlobFsType requireFormattable() {
    if (!Mkfs.supports(type)) {
      throw new InvalidArgumentException(
          "a writable device without parent cannot be formatted as "
              + type
              + " (label "
              + Labels.BLOB_FS_TYPE
              + " or defaultFsType; formattable: "
              + sorted(Set.copyOf(FILESYSTEMS.stream().filter(Mkfs::supports).toList()))
              + ")");
    }
    return this;
  }

  private static InvalidArgumentException invalid(String value, String why) {
    return new InvalidArgumentException(
        "label " + Labels.BLOB_FS_TYPE + ": \"" + Excerpt.of(value) + "\": " + why);
  }

  private static String sorted(Set<String> values) {
    return String.join(", ", new TreeSet<>(values));
  }
}
