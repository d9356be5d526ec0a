package dev.obd.backstore.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.ByteSource;
import dev.obd.image.FileByteSource;
import dev.obd.image.build.BlobInfo;
import dev.obd.image.build.LayerCommitter;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.layer.SparseExport;
import dev.obd.image.lsmt.LayerUuid;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.Mounts;
import dev.obd.testsupport.Requirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code obdctl nbd serve} (run as its own JVM) serving a two-layer image; nbdcopy, qemu-img and
 * nbdinfo read it byte-identical to the merged disk that {@code obdctl extract} writes (the format
 * library's SparseExport).
 */
class NbdServeByteIdentityTest {
  @TempDir Path dir;

  @Test
  void realNbdClientsReadTheServedImageByteIdenticalToExtract() throws Exception {
    Requirements.requireCommand("nbdcopy");
    Requirements.requireCommand("nbdinfo");
    Requirements.requireCommand("qemu-img");
    Requirements.requireCommand("mkfs.ext4");
    Requirements.requireCommand("debugfs");
    TestImages.Built base = TestImages.build(dir.resolve("base"), 2, 1 << 20, 24L << 20);
    // layer 2: the same filesystem with one file rewritten and one added
    Path v2 = dir.resolve("v2.ext4");
    Files.copy(base.ext4(), v2);
    Path extra = dir.resolve("extra.bin");
    Files.write(extra, new byte[300_000]);
    Mounts.run(
        List.of("debugfs", "-w", "-R", "write " + extra + " extra.bin", v2.toString()), null);
    Mounts.run(List.of("debugfs", "-w", "-R", "rm data/file0.bin", v2.toString()), null);
    Path blob2 = dir.resolve("layer2.blob");
    try (LayerStack lower =
        LayerStack.open(List.<ByteSource>of(FileByteSource.open(base.blob())), Optional.empty())) {
      BlobInfo info =
          LayerCommitter.commit(
              v2, Optional.of(lower), blob2, LayerCommitter.Options.of(LayerUuid.random()));
      assertThat(info.entries()).isPositive();
    }
    Path oracle = dir.resolve("extract.img");
    try (LayerStack stack =
        LayerStack.open(
            List.<ByteSource>of(FileByteSource.open(base.blob()), FileByteSource.open(blob2)),
            Optional.empty())) {
      SparseExport.export(stack, oracle);
    }
    Path config =
        Fixture.imageConfig(
            dir.resolve("config.v1.json"),
            Map.of(
                "lowers",
                List.of(Map.of("file", base.blob().toString()), Map.of("file", blob2.toString())),
                "upper",
                Map.of()));
    Path daemonDir = dir.resolve("d");
    Path backstoreConfig = Fixture.daemonConfig(daemonDir, Map.of());
    Path socket = dir.resolve("serve.sock");
    Path target = Path.of("target").toAbsolutePath();
    String cp =
        target.resolve("classes") + ":" + Files.readString(target.resolve("classpath.txt")).trim();
    try (ChildProcess serve =
        ChildProcess.start(
            "obdctl nbd serve",
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                cp,
                "dev.obd.backstore.cli.NbdCommand",
                "serve",
                "--config",
                config.toString(),
                "--unix",
                socket.toString(),
                "--backstore-config",
                backstoreConfig.toString()),
            dir.resolve("serve.log"),
            Map.of())) {
      serve.awaitCondition(
          "'serving' on stdout",
          Duration.ofSeconds(60),
          () -> serve.logTail(5).contains("serving " + config));
      String uri = "nbd+unix:///obd?socket=" + socket;
      assertThat(Mounts.run(List.of("nbdinfo", uri), null))
          .contains("export-size: " + Files.size(oracle))
          .contains("is_read_only: true");
      Path viaNbdcopy = dir.resolve("nbdcopy.img");
      Mounts.run(List.of("nbdcopy", uri, viaNbdcopy.toString()), null);
      assertThat(Files.mismatch(viaNbdcopy, oracle)).isEqualTo(-1);
      Path viaQemu = dir.resolve("qemu.img");
      Mounts.run(
          List.of("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, viaQemu.toString()), null);
      assertThat(Files.mismatch(viaQemu, oracle)).isEqualTo(-1);
      assertThat(serve.terminate(Duration.ofSeconds(20))).isZero();
    }
  }
}
