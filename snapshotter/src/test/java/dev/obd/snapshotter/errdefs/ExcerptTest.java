package dev.obd.snapshotter.errdefs;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ExcerptTest {
  @Test
  void shortTextIsShownWhole() {
    assertThat(Excerpt.of("snapshot-key")).isEqualTo("snapshot-key");
  }

  @Test
  void longTextIsCutAndSaysHowLongItWas() {
    String key = "k".repeat(1 << 20);
    assertThat(Excerpt.of(key))
        .startsWith("k".repeat(Excerpt.MAX_CHARS) + "...")
        .endsWith("(1048576 characters)")
        .hasSizeLessThan(Excerpt.MAX_CHARS + 30);
  }

  @Test
  void aCutNeverSplitsASurrogatePair() {
    String text = "a".repeat(Excerpt.MAX_CHARS - 1) + "\uD83D\uDE00" + "b".repeat(10);
    String cut = Excerpt.of(text);
    assertThat(cut).startsWith("a".repeat(Excerpt.MAX_CHARS - 1) + "...");
  }

  @Test
  void controlCharactersCannotStartAFakeLogLine() {
    assertThat(Excerpt.of("a\nINFO forged\u001b[0m")).isEqualTo("a\\nINFO forged\\u001b[0m");
  }

  @Test
  void aBoundedMessageKeepsItsBeginningAndItsEnd() {
    String message = "snapshot " + "k".repeat(5000) + ": not found";
    String bounded = Excerpt.ofMessage(message, 1000);
    assertThat(bounded).hasSizeLessThanOrEqualTo(1000 + 40).startsWith("snapshot kkk");
    assertThat(bounded).endsWith("kkk: not found").contains("characters cut");
    assertThat(Excerpt.ofMessage("short", 1000)).isEqualTo("short");
  }
}
