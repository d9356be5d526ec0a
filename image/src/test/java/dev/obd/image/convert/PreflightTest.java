package dev.obd.image.convert;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The privilege check a conversion makes before anything else. */
class PreflightTest {
  @Test
  void ext4NeedsRootAndSaysWhatNeedsNone() {
    assertThatThrownBy(() -> Preflight.checkPrivileges("ext4", 1000))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("needs root")
        .hasMessageContaining("user 1000")
        .hasMessageContaining("--fstype erofs");
    assertThatCode(() -> Preflight.checkPrivileges("ext4", 0)).doesNotThrowAnyException();
    assertThatCode(() -> Preflight.checkPrivileges("erofs", 1000)).doesNotThrowAnyException();
  }
}
