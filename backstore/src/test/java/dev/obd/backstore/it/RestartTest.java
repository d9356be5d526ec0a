package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.backstore.api.DeviceState;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 of the backstore on the nbdfuse path (the only path this kernel has; the kernel-nbd path,
 * which survives a restart with a mounted filesystem, is tested in the VM tier). What it can and
 * cannot survive, as documented in {@code FuseLoopAttacher}:
 *
 * <ul>
 *   <li>while the daemon is down, reads that miss the page cache fail with EIO; nothing hangs;
 *   <li>a device that is not mounted comes back under the same name after the restart;
 *   <li>a device with a mounted filesystem is listed as broken with the reason, and unmount +
 *       remove + add gives a working device again.
 * </ul>
 */
class RestartTest {
  @TempDir Path dir;

  @Test
  void afterKill9AndRestartUnmountedDevicesComeBackAndMountedOnesAreReportedBroken()
      throws Exception {
    Requirements.requireRoot();
    Requirements.requireCommand("nbdfuse");
    TestImages.Built img = TestImages.build(dir.resolve("img"), 3, 1 << 20, 16L << 20);
    Path mountedConfig = config("mounted", img);
    Path idleConfig = config("idle", img);
    Path daemonDir = dir.resolve("d");
    Path daemonConfig = Fixture.daemonConfig(daemonDir, Map.of());
    BackstoreClient client = Fixture.client(daemonDir);
    ChildProcess first = DaemonProcess.start(daemonDir, daemonConfig, "daemon-1.log");
    ChildProcess second = null;
    Path mnt = Files.createDirectories(dir.resolve("mnt"));
    try (Mounts mounts = new Mounts()) {
      DeviceInfo mounted = client.add(mountedConfig, Duration.ofSeconds(30));
      DeviceInfo idle = client.add(idleConfig, Duration.ofSeconds(30));
      mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", mounted.device());
      assertThat(Fixture.sha256(mnt.resolve("data/file0.bin")))
          .isEqualTo(Fixture.sha256(img.source().resolve("data/file0.bin")));

      first.kill9();
      Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
      long start = System.nanoTime();
      assertThatThrownBy(() -> Files.readAllBytes(mnt.resolve("data/file1.bin")))
          .as("while the daemon is down, uncached reads fail instead of hanging")
          .isInstanceOf(IOException.class);
      assertThat(System.nanoTime() - start).isLessThan(Duration.ofSeconds(10).toNanos());

      second = DaemonProcess.start(daemonDir, daemonConfig, "daemon-2.log");
      DeviceInfo idleAfter = client.get(idle.device(), Duration.ofSeconds(5));
      assertThat(idleAfter.state()).as(idleAfter.error()).isEqualTo(DeviceState.ATTACHED);
      assertThat(Fixture.sha256Prefix(Path.of(idle.device()), 16L << 20))
          .isEqualTo(Fixture.sha256(img.ext4()));

      DeviceInfo mountedAfter = client.get(mounted.device(), Duration.ofSeconds(5));
      assertThat(mountedAfter.state()).isEqualTo(DeviceState.BROKEN);
      assertThat(mountedAfter.error()).contains("unmount it, remove the device and add it again");

      mounts.unmount(mnt);
      client.remove(mounted.device(), Duration.ofSeconds(30));
      DeviceInfo again = client.add(mountedConfig, Duration.ofSeconds(30));
      mounts.mount(mnt, null, "-t", "ext4", "-o", "ro", again.device());
      assertThat(Fixture.sha256(mnt.resolve("data/file1.bin")))
          .isEqualTo(Fixture.sha256(img.source().resolve("data/file1.bin")));
      mounts.unmount(mnt);
      client.remove(again.device(), Duration.ofSeconds(30));
      client.remove(idle.device(), Duration.ofSeconds(30));
      assertThat(client.list(Duration.ofSeconds(5))).isEmpty();
    } finally {
      first.close();
      if (second != null) {
        second.terminate(Duration.ofSeconds(20));
      }
      Fixture.forceCleanup(daemonDir.resolve("run"));
    }
  }

  private Path config(String name, TestImages.Built img) throws IOException {
    return Fixture.imageConfig(
        dir.resolve(name + "/config.v1.json"),
        Map.of(
            "lowers", List.of(Map.of("file", img.blob().toString())),
            "upper", Map.of(),
            "resultFile", dir.resolve(name + "/init-debug.log").toString()));
  }
}
