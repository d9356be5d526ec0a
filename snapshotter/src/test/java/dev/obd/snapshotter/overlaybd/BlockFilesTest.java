package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;

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
    byte[] lsmt = new byte[4096];
    byte[] magic = {
      'L',
      'S',
      'M',
      'T',
      0,
      1,
      2,
      0,
      0x65,
      0x7E,
      0x63,
      (byte) 0xD2,
      (byte) 0x94,
      0x44,
      0x08,
      0x4C,
      (byte) 0xA2,
      (byte) 0xD2,
      (byte) 0xC8,
      (byte) 0xEC,
      0x4F,
      (byte) 0xCF,
      (byte) 0xAE,
      (byte) 0x8A
    };
    System.arraycopy(magic, 0, lsmt, 0, magic.length);
    Files.write(fs.resolve("overlaybd.sealed"), lsmt);
    Files.writeString(fs.resolve("overlaybd.commit"), "an ordinary file with that name");
    assertThat(BlockFiles.find(fs)).contains(fs.resolve("overlaybd.sealed"));
    Files.delete(fs.resolve("overlaybd.sealed"));
    assertThat(BlockFiles.find(fs)).isEmpty();
  }
}
