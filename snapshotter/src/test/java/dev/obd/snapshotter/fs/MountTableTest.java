package dev.obd.snapshotter.fs;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class MountTableTest {
  @Test
  void octalEscapesOfMountinfoAreDecoded() {
    assertThat(MountTable.unescape("/mnt/with\\040space\\011tab"))
        .isEqualTo("/mnt/with space\ttab");
    assertThat(MountTable.unescape("/plain")).isEqualTo("/plain");
    assertThat(MountTable.unescape("/trailing\\04")).isEqualTo("/trailing\\04");
  }

  @Test
  void theRootFilesystemIsAMountUnderSlash() {
    assertThat(MountTable.mountsUnder(Path.of("/"))).contains(Path.of("/"));
  }
}
