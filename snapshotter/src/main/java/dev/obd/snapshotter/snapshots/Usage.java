package dev.obd.snapshotter.snapshots;

/**
 * Disk resources a snapshot takes: bytes allocated ({@code st_blocks} × 512, each inode counted
 * once however many hard links it has) and the number of distinct inodes, its root included.
 */
public record Usage(long size, long inodes) {
  public static final Usage ZERO = new Usage(0, 0);
}
