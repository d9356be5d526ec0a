package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.snapshotter.device.AttachException;
import dev.obd.snapshotter.device.BlockMounter;
import dev.obd.snapshotter.device.Mkfs;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the allow-lists of {@link BlobFsType} promise, on the real kernel: every mount option a
 * label may give is accepted by mount(2) as {@link BlockMounter} calls it, and {@link Mkfs}'s fixed
 * options make filesystems that mount read-write. Loop devices over image files stand in for
 * OverlayBD devices (the filesystem code is the same). f2fs is not exercised: this test kernel has
 * no f2fs. Needs root (loop devices, mounts), mkfs.xfs (xfsprogs) and mkfs.erofs (erofs-utils).
 */
class AllowedFilesystemsMountTest {
  private static final Duration MKFS_DEADLINE = Duration.ofSeconds(120);

  @TempDir Path dir;
  private final BlockMounter mounter = new BlockMounter();
  private final List<String> loops = new java.util.ArrayList<>();
  private Path mountpoint;

  @BeforeEach
  void requirements() throws IOException {
    Requirements.requireRoot();
    Requirements.requireCommand("mkfs.xfs");
    Requirements.requireCommand("mkfs.erofs");
    mountpoint = Files.createDirectory(dir.resolve("mnt"));
  }

  @AfterEach
  void detachLoops() {
    if (mountpoint != null && mounter.isMounted(mountpoint)) {
      mounter.detachLazily(mountpoint);
    }
    for (String loop : loops) {
      Mounts.run(List.of("losetup", "-d", loop), null);
    }
  }

  private String loopOver(Path image) {
    String loop = Mounts.run(List.of("losetup", "-f", "--show", image.toString()), null).trim();
    loops.add(loop);
    return loop;
  }

  private String freshDevice(String name, long bytes) throws IOException {
    Path image = dir.resolve(name);
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      f.setLength(bytes);
    }
    return loopOver(image);
  }

  /** Mounts {@code device} read-only with each allowed option of {@code type} alone. */
  private void everyAllowedOptionMounts(String device, String type) throws AttachException {
    for (String option : new TreeSet<>(BlobFsType.allowedMountOptions(type))) {
      BlobFsType fs = BlobFsType.parse(type + ";" + option);
      mounter.mount(device, mountpoint, fs.type(), fs.mountData(), true);
      assertThat(mounter.isMounted(mountpoint)).as(type + " with " + option).isTrue();
      mounter.unmount(mountpoint);
    }
  }

  private void formattedDeviceMountsReadWriteWithTheDefaults(String device, String type)
      throws Exception {
    Mkfs.format(device, type, MKFS_DEADLINE);
    assertThat(mounter.detectFsType(device, type)).isEqualTo(type);
    BlobFsType fs = BlobFsType.parse(type);
    mounter.mount(device, mountpoint, fs.type(), fs.mountData(), false);
    Files.writeString(mountpoint.resolve("written"), "container data");
    mounter.unmount(mountpoint);
  }

  @Test
  void ext4FromMkfsMountsReadWriteAndTakesEveryAllowedOption() throws Exception {
    String device = freshDevice("ext4.img", 256L << 20);
    formattedDeviceMountsReadWriteWithTheDefaults(device, "ext4");
    everyAllowedOptionMounts(device, "ext4");
  }

  @Test
  void xfsFromMkfsMountsReadWriteAndTakesEveryAllowedOption() throws Exception {
    String device = freshDevice("xfs.img", 1L << 30);
    formattedDeviceMountsReadWriteWithTheDefaults(device, "xfs");
    everyAllowedOptionMounts(device, "xfs");
  }

  @Test
  void anErofsImageIsDetectedAndTakesEveryAllowedOption() throws Exception {
    Path tree = Files.createDirectories(dir.resolve("tree/etc"));
    Files.writeString(tree.resolve("hostname"), "layer");
    Path image = dir.resolve("erofs.img");
    Mounts.run(
        List.of("mkfs.erofs", "--quiet", image.toString(), dir.resolve("tree").toString()), null);
    String device = loopOver(image);
    BlobFsType declared = BlobFsType.parse("ext4;noload");
    BlobFsType fs = declared.asDetected(mounter.detectFsType(device, declared.type()));
    assertThat(fs).isEqualTo(BlobFsType.defaults("erofs"));
    mounter.mount(device, mountpoint, fs.type(), fs.mountData(), true);
    assertThat(mountpoint.resolve("etc/hostname")).hasContent("layer");
    mounter.unmount(mountpoint);
    everyAllowedOptionMounts(device, "erofs");
  }
}
