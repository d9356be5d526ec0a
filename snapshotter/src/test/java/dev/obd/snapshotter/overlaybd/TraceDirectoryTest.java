package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TraceDirectoryTest {
  @TempDir Path base;
  private Path dir;
  private TraceDirectory traces;

  @BeforeEach
  void open() throws IOException {
    dir = base.resolve("root/record-trace");
    traces = TraceDirectory.open(dir);
  }

  private void assertRefused(String value, String why) {
    assertThatThrownBy(() -> traces.resolve(value))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("label " + Labels.RECORD_TRACE_PATH + ": ")
        .hasMessageContaining(why);
  }

  @Test
  void theDirectoryIsCreatedForRootOnly() throws IOException {
    assertThat(Files.isDirectory(dir)).isTrue();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)))
        .isEqualTo("rwx------");
  }

  @Test
  void aFileInsideIsAcceptedAsItsRealPath() throws IOException {
    Path trace = Files.createFile(dir.resolve("app.trace"));
    assertThat(traces.resolve(trace.toString())).isEqualTo(trace.toRealPath());
    Files.createDirectory(dir.resolve("team"));
    Path nested = Files.createFile(dir.resolve("team/app.trace"));
    assertThat(traces.resolve(nested.toString())).isEqualTo(nested.toRealPath());
  }

  @Test
  void hostFilesOutsideAreRefusedWithoutSayingWhetherTheyExist() {
    assertRefused("/etc/shadow", "is not inside " + dir);
    assertRefused("/nonexistent/trace", "is not inside " + dir);
    assertRefused(dir.toString(), "is not inside");
  }

  @Test
  void dotDotAndRelativePathsAreRefused() {
    assertRefused(dir + "/../../../../etc/shadow", "without . or ..");
    assertRefused(dir + "/./x", "without . or ..");
    assertRefused("record-trace/x", "not an absolute path");
    assertRefused("/tmp/\0x", "is not a path");
  }

  @Test
  void aSymbolicLinkOutOfTheDirectoryIsRefused() throws IOException {
    Path shadow = Files.createSymbolicLink(dir.resolve("shadow"), Path.of("/etc/shadow"));
    Path etc = Files.createSymbolicLink(dir.resolve("etc"), Path.of("/etc"));
    try {
      assertRefused(shadow.toString(), "is not inside");
      assertRefused(etc.resolve("shadow").toString(), "is not inside");
    } finally {
      Files.delete(shadow); // @TempDir's cleanup warns about links that leave it
      Files.delete(etc);
    }
  }

  @Test
  void aSymbolicLinkWithinTheDirectoryResolvesToItsTarget() throws IOException {
    Path target = Files.createFile(dir.resolve("real.trace"));
    Files.createSymbolicLink(dir.resolve("alias.trace"), target);
    assertThat(traces.resolve(dir.resolve("alias.trace").toString()))
        .isEqualTo(target.toRealPath());
  }

  @Test
  void aHardLinkToAFileElsewhereIsRefused() throws IOException {
    Path outside = Files.writeString(base.resolve("secret"), "secret");
    Files.createLink(dir.resolve("secret.trace"), outside);
    assertRefused(dir.resolve("secret.trace").toString(), "hard links");
  }

  @Test
  void missingFilesAndDirectoriesInsideAreRefused() throws IOException {
    assertRefused(dir.resolve("absent").toString(), "does not exist");
    Files.createDirectory(dir.resolve("sub"));
    assertRefused(dir.resolve("sub").toString(), "is not a regular file");
  }
}
