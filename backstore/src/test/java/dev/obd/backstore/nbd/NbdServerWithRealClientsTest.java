package dev.obd.backstore.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.backstore.device.RawFileDisk;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The NBD server against real NBD clients (libnbd's nbdinfo/nbdcopy, qemu's qemu-img/qemu-io). */
class NbdServerWithRealClientsTest {
  private static NbdTransport transport;

  @TempDir Path dir;

  @BeforeAll
  static void startTransport() {
    transport = NbdTransport.start(8);
  }

  @AfterAll
  static void stopTransport() {
    transport.close();
  }

  private Path randomImage(String name, int size) throws Exception {
    byte[] data = new byte[size];
    new Random(42).nextBytes(data);
    Path file = dir.resolve(name);
    Files.write(file, data);
    return file;
  }

  private static String uri(Path socket) {
    return "nbd+unix:///?socket=" + socket;
  }

  @Test
  void nbdinfoSeesSizeReadOnlyFlagAndBlockSizes() throws Exception {
    Requirements.requireCommand("nbdinfo");
    Path image = randomImage("disk.img", 4 << 20);
    try (RawFileDisk disk = RawFileDisk.open(image, false);
        NbdServer server =
            NbdServer.create(new Export("img", "test image", disk, 4096), transport)
                .listen(dir.resolve("nbd.sock"), Duration.ofSeconds(5))) {
      String info = Mounts.run(List.of("nbdinfo", uri(server.socket())), null);
      assertThat(info)
          .contains("protocol: newstyle-fixed")
          .contains("export-size: 4194304")
          .contains("is_read_only: true")
          .contains("block_size_minimum: 4096")
          .contains("content: data");
      String list = Mounts.run(List.of("nbdinfo", "--list", uri(server.socket())), null);
      assertThat(list).contains("export=\"img\"");
    }
  }

  @Test
  void nbdcopyAndQemuImgCopyTheExportByteIdentical() throws Exception {
    Requirements.requireCommand("nbdcopy");
    Requirements.requireCommand("qemu-img");
    Path image = randomImage("disk.img", 8 << 20);
    try (RawFileDisk disk = RawFileDisk.open(image, false);
        NbdServer server =
            NbdServer.create(new Export("img", "test image", disk, 512), transport)
                .listen(dir.resolve("nbd.sock"), Duration.ofSeconds(5))) {
      Path viaNbdcopy = dir.resolve("nbdcopy.img");
      Mounts.run(
          List.of("nbdcopy", "--requests=16", uri(server.socket()), viaNbdcopy.toString()), null);
      assertThat(Files.mismatch(image, viaNbdcopy)).isEqualTo(-1);

      Path viaQemu = dir.resolve("qemu.img");
      Mounts.run(
          List.of(
              "qemu-img",
              "convert",
              "-f",
              "raw",
              "-O",
              "raw",
              uri(server.socket()),
              viaQemu.toString()),
          null);
      assertThat(Files.mismatch(image, viaQemu)).isEqualTo(-1);
      assertThat(server.stats().snapshot().reads()).isPositive();
    }
  }

  @Test
  void writesTrimsAndFlushesReachAWritableDisk() throws Exception {
    Requirements.requireCommand("qemu-io");
    Path image = randomImage("disk.img", 1 << 20);
    try (RawFileDisk disk = RawFileDisk.open(image, true);
        NbdServer server =
            NbdServer.create(new Export("rw", "writable", disk, 512), transport)
                .listen(dir.resolve("nbd.sock"), Duration.ofSeconds(5))) {
      Mounts.run(
          List.of(
              "qemu-io",
              "-f",
              "raw",
              "-c",
              "write -P 0xab 4096 8192",
              "-c",
              "discard 65536 65536",
              "-c",
              "flush",
              uri(server.socket())),
          null);
      byte[] after = Files.readAllBytes(image);
      for (int i = 4096; i < 4096 + 8192; i++) {
        assertThat(after[i]).as("byte %d", i).isEqualTo((byte) 0xab);
      }
      for (int i = 65536; i < 131072; i++) {
        assertThat(after[i]).as("byte %d", i).isZero();
      }
      assertThat(server.stats().snapshot().writes()).isEqualTo(1);
      assertThat(server.stats().snapshot().trims()).isEqualTo(1);
    }
  }

  @Test
  void writesToAReadOnlyExportFailWithPermissionDenied() throws Exception {
    Requirements.requireCommand("qemu-io");
    Path image = randomImage("disk.img", 1 << 20);
    byte[] before = Files.readAllBytes(image);
    try (RawFileDisk disk = RawFileDisk.open(image, false);
        NbdServer server =
            NbdServer.create(new Export("ro", "read-only", disk, 512), transport)
                .listen(dir.resolve("nbd.sock"), Duration.ofSeconds(5))) {
      // qemu-io refuses to open a read-only export for writing: what a user sees.
      String out;
      try {
        out =
            Mounts.run(
                List.of("qemu-io", "-f", "raw", "-c", "write 0 512", uri(server.socket())), null);
      } catch (IllegalStateException e) {
        out = e.getMessage();
      }
      assertThat(out.toLowerCase()).containsAnyOf("read-only", "read only", "permission denied");
      assertThat(Files.readAllBytes(image)).isEqualTo(before);
    }
  }
}
