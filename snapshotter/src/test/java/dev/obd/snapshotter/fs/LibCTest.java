package dev.obd.snapshotter.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** lstat(2) through the snapshotter's own binding, checked against what the JDK reports. */
class LibCTest {
  @TempDir Path dir;

  @Test
  void lstatReportsTheSameDeviceAndInodeAsTheJdkAndTheAllocatedBlocks() throws IOException {
    Path file = Files.write(dir.resolve("data"), new byte[64 * 1024]);
    LibC.Stat st = LibC.lstat(file.toString());
    assertThat(st.dev()).isEqualTo(((Number) Files.getAttribute(file, "unix:dev")).longValue());
    assertThat(st.ino()).isEqualTo(((Number) Files.getAttribute(file, "unix:ino")).longValue());
    assertThat(st.mode() & 07777)
        .isEqualTo(((Number) Files.getAttribute(file, "unix:mode")).intValue() & 07777);
    assertThat(st.isDirectory()).isFalse();
    assertThat(st.blocks() * 512).as("64 KiB written").isGreaterThanOrEqualTo(64 * 1024);
    assertThat(LibC.lstat(dir.toString()).isDirectory()).isTrue();
  }

  @Test
  void lstatDoesNotFollowASymbolicLink() throws IOException {
    Path target = Files.createDirectory(dir.resolve("target"));
    Path link = Files.createSymbolicLink(dir.resolve("link"), target);
    LibC.Stat st = LibC.lstat(link.toString());
    assertThat(st.isDirectory()).isFalse();
    assertThat(st.ino())
        .isEqualTo(
            ((Number) Files.getAttribute(link, "unix:ino", LinkOption.NOFOLLOW_LINKS)).longValue());
  }

  @Test
  void aFileThatIsGoneIsNullAndOtherFailuresNameTheReason() throws IOException {
    assertThat(LibC.lstat(dir.resolve("missing").toString())).isNull();
    Path file = Files.writeString(dir.resolve("plain"), "x");
    assertThat(LibC.lstat(file.resolve("below-a-file").toString())).as("ENOTDIR").isNull();
    String tooLong = dir.resolve("n".repeat(300)).toString();
    assertThatThrownBy(() -> LibC.lstat(tooLong))
        .isInstanceOf(IOException.class)
        .hasMessageStartingWith("lstat " + tooLong + ": ")
        .hasMessageContaining("too long");
  }
}
