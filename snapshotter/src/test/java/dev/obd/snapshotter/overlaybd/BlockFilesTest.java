package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.image.lsmt.LayerUuid;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.testsupport.Requirements;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlockFilesTest {
  @TempDir Path fs;

  @Test
  void theZFileInsideTheOfficialConvertorsBlobIsRecognised() throws IOException {
    Path blob =
        Requirements.requireSharedTestData("hello-world-obd")
            .resolve(
                "blobs/sha256/022231c3f1af70e0cc42f0c3781eabf174cff608210585bf93fc83e16d33672d");
    // the blob is a tar holding one file, overlaybd.commit: unpack it as containerd does
    Process tar = new ProcessBuilder("tar", "-xf", blob.toString(), "-C", fs.toString()).start();
    try {
      assertThat(tar.waitFor()).isZero();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    assertThat(BlockFiles.find(fs)).contains(fs.resolve("overlaybd.commit"));
  }

  @Test
  void anLsmtSealedFileIsRecognisedAndOrdinaryFilesAreNot() throws IOException {
    // a sealed writable layer, as Commit of a writable container leaves it
    Path data = fs.resolve("overlaybd.sealed");
    WritableLayer.create(data, fs.resolve("index"), 1 << 20, LayerUuid.random(), LayerUuid.NIL)
        .seal();
    Files.delete(fs.resolve("index"));
    Files.writeString(fs.resolve("overlaybd.commit"), "an ordinary file with that name");
    assertThat(BlockFiles.find(fs)).contains(fs.resolve("overlaybd.sealed"));
    Files.delete(fs.resolve("overlaybd.sealed"));
    assertThat(BlockFiles.find(fs)).isEmpty();
  }
}
