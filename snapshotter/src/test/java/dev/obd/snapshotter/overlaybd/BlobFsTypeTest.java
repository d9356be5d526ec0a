package dev.obd.snapshotter.overlaybd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BlobFsTypeTest {
  @Test
  void theConvertorsValuesMountWithUpstreamsDefaults() {
    assertThat(BlobFsType.parse("ext4")).isEqualTo(new BlobFsType("ext4", List.of("discard")));
    assertThat(BlobFsType.parse("xfs"))
        .isEqualTo(new BlobFsType("xfs", List.of("nouuid", "discard")));
    assertThat(BlobFsType.parse("erofs")).isEqualTo(new BlobFsType("erofs", List.of()));
    assertThat(BlobFsType.parse("f2fs")).isEqualTo(new BlobFsType("f2fs", List.of()));
  }

  @Test
  void emptyMountOptionsAndAnEmptyMkfsFieldMeanTheDefaults() {
    assertThat(BlobFsType.parse("ext4;")).isEqualTo(BlobFsType.defaults("ext4"));
    assertThat(BlobFsType.parse("ext4;;")).isEqualTo(BlobFsType.defaults("ext4"));
    assertThat(BlobFsType.parse("xfs;nouuid;")).isEqualTo(new BlobFsType("xfs", List.of("nouuid")));
  }

  @Test
  void allowedMountOptionsAreKeptInOrder() {
    BlobFsType fs = BlobFsType.parse("ext4;ro,noload,nodiscard");
    assertThat(fs.mountOptions()).containsExactly("ro", "noload", "nodiscard");
    assertThat(fs.mountData()).isEqualTo("ro,noload,nodiscard");
  }

  @Test
  void withoutTheLabelTheConfiguredDefaultApplies() {
    assertThat(BlobFsType.of(Map.of(), "xfs")).isEqualTo(BlobFsType.defaults("xfs"));
    assertThat(BlobFsType.of(Map.of(Labels.BLOB_FS_TYPE, ""), "ext4"))
        .isEqualTo(BlobFsType.defaults("ext4"));
    assertThat(BlobFsType.of(Map.of(Labels.BLOB_FS_TYPE, "erofs"), "ext4").type())
        .isEqualTo("erofs");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "ext4;ro,remount,exec",
        "ext4;exec",
        "ext4;suid",
        "ext4;dev",
        "ext4;bind",
        "ext4;rw",
        "xfs;rw",
        "ext4;discard,,ro",
        "ext4;context=system_u:object_r:container_file_t:s0",
        "ext4;journal_path=/dev/sda1",
        "xfs;logdev=/dev/sda1",
        "erofs;device=/etc/shadow",
        "xfs;noload",
        "../../../../tmp/evil",
        "ntfs",
        "EXT4",
        "ext4 ",
        "ext4\n",
        "btrfs",
        ";discard",
        "",
      })
  void anythingOutsideTheAllowListsIsAnInvalidArgumentNamingTheLabel(String value) {
    assertThatThrownBy(() -> BlobFsType.parse(value))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("label " + Labels.BLOB_FS_TYPE + ": ")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"ext4;;-d /etc -F", "ext4;discard;-b 1024", "xfs;;-f", "ext4;;;"})
  void mkfsOptionsAreRefusedNotIgnored(String value) {
    assertThatThrownBy(() -> BlobFsType.parse(value))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("mkfs options cannot be given by a label");
  }

  @Test
  void declaredChecksOnlyAPresentLabel() {
    assertThat(BlobFsType.declared(Map.of("other", "ext4;exec"))).isEmpty();
    assertThat(BlobFsType.declared(Map.of(Labels.BLOB_FS_TYPE, ""))).isEmpty();
    assertThatThrownBy(() -> BlobFsType.declared(Map.of(Labels.BLOB_FS_TYPE, "ext4;exec")))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("\"exec\" is not allowed for ext4");
  }

  @Test
  void aHugeValueIsEchoedCut() {
    assertThatThrownBy(() -> BlobFsType.parse("ext4;" + "a".repeat(1 << 20)))
        .satisfies(e -> assertThat(e.getMessage()).hasSizeLessThan(1000));
  }

  @Test
  void anErofsDeviceIsMountedWithErofsOptionsWhateverTheLabelSays() {
    assertThat(BlobFsType.parse("ext4;noload").asDetected("erofs"))
        .isEqualTo(new BlobFsType("erofs", List.of()));
    BlobFsType ext4 = BlobFsType.parse("ext4;noload");
    assertThat(ext4.asDetected("ext4")).isSameAs(ext4);
  }

  @Test
  void onlyFilesystemsMkfsCanMakeAreFormattable() {
    assertThat(BlobFsType.parse("ext4").requireFormattable().type()).isEqualTo("ext4");
    assertThat(BlobFsType.parse("xfs").requireFormattable().type()).isEqualTo("xfs");
    assertThatThrownBy(() -> BlobFsType.parse("erofs").requireFormattable())
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("cannot be formatted as erofs");
  }
}
