package dev.obd.snapshotter.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TCMU attacher against {@link SimulatedTcmuKernel}, a SIMULATION of configfs and sysfs (this
 * kernel has no configfs or TCMU); the real kernel path runs in the VM tier.
 */
class TcmuAttacherTest {
  private static final String T = "/sys/kernel/config/target";
  @TempDir Path block;
  private SimulatedTcmuKernel kernel;
  private Path config;

  @BeforeEach
  void setUp() throws Exception {
    kernel = new SimulatedTcmuKernel();
    config = Files.writeString(block.resolve("config.v1.json"), "{}");
  }

  @Test
  void attachFollowsUpstreamsConfigfsSequenceAndNames() throws Exception {
    TcmuAttacher a = new TcmuAttacher(kernel, -1, "overlaybd");
    String device = a.attach(128, config, Duration.ofSeconds(5));
    assertThat(device).isEqualTo("/dev/sdb");
    String dev = T + "/core/user_999999999/dev_128";
    String tpgt = T + "/loopback/naa.1990000000000128/tpgt_1";
    assertThat(kernel.operations)
        .containsExactly(
            "mkdir " + T + "/core/user_999999999",
            "mkdir " + dev,
            "write " + dev + "/control = dev_config=overlaybd/" + config.toAbsolutePath(),
            "write " + dev + "/control = max_data_area_mb=4",
            "write " + dev + "/enable = 1",
            "write " + dev + "/attrib/cmd_time_out = 2147483",
            "mkdir " + T + "/loopback/naa.1990000000000128",
            "mkdir " + tpgt,
            "mkdir " + tpgt + "/lun/lun_0",
            "write " + tpgt + "/nexus = naa.1990000000000128",
            "symlink " + tpgt + "/lun/lun_0/dev_128 -> " + dev,
            "write /sys/block/sdb/device/timeout = 2147483");
    assertThat(Files.readString(block.resolve("init-debug.log"))).isEqualTo("success");
    assertThat(a.attached(Duration.ofSeconds(1)))
        .containsEntry(128L, AttachedDevice.healthy("/dev/sdb"));
    assertThat(a.attach(128, config, Duration.ofSeconds(5))).as("idempotent").isEqualTo("/dev/sdb");
  }

  @Test
  void aTenantNamespacesTheHbaAndTheWwn() throws Exception {
    TcmuAttacher a = new TcmuAttacher(kernel, 5, "overlaybd");
    a.attach(7, config, Duration.ofSeconds(5));
    assertThat(kernel.exists(T + "/core/user_5/dev_7")).isTrue();
    assertThat(kernel.exists(T + "/loopback/naa.1050000000000007/tpgt_1")).isTrue();
  }

  @Test
  void enableIsRetriedWhileTheKernelAnswersEagain() throws Exception {
    kernel.eagainAnswers = 7;
    assertThat(new TcmuAttacher(kernel, -1, "overlaybd").attach(3, config, Duration.ofSeconds(10)))
        .startsWith("/dev/sd");
    assertThat(kernel.operations.stream().filter(o -> o.endsWith("/enable = 1"))).hasSize(8);
  }

  @Test
  void endlessEagainFailsAfterUpstreamsHundredAttemptsAndLeavesNothing() {
    kernel.eagainAnswers = Integer.MAX_VALUE;
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(3, config, Duration.ofSeconds(30)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("failed to enable target")
        .hasMessageContaining("Resource temporarily unavailable");
    assertThat(kernel.configfsObjects()).isEmpty();
  }

  @Test
  void aMissingHandlerFailsClearlyAndRemovesWhatWasCreated() {
    kernel.handlerRegistered = "none";
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(9, config, Duration.ofSeconds(5)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("snapshot 9")
        .hasMessageContaining("no TCMU handler overlaybd");
    assertThat(kernel.configfsObjects()).isEmpty();
  }

  @Test
  void aBackstoreFailureIsReportedWithItsResultFile() throws Exception {
    Files.delete(config);
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(9, config, Duration.ofSeconds(5)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("overlaybd-tcmu says: failed:open config");
    assertThat(kernel.configfsObjects()).isEmpty();
  }

  @Test
  void aDiskThatNeverAppearsFailsAtTheDeadlineAndRemovesEverythingInReverse() {
    kernel.diskAppears = false;
    long t0 = System.nanoTime();
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(4, config, Duration.ofMillis(500)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("did not appear in time");
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    assertThat(kernel.configfsObjects()).isEmpty();
    List<String> removals =
        kernel.operations.stream().filter(o -> o.startsWith("remove ")).toList();
    assertThat(removals.get(0)).endsWith("/lun/lun_0/dev_4");
    assertThat(removals.subList(removals.size() - 2, removals.size()))
        .as("the device, then the HBA this attach created")
        .containsExactly(
            "remove " + T + "/core/user_999999999/dev_4", "remove " + T + "/core/user_999999999");
  }

  @Test
  void detachRemovesInReverseOrderAndIsIdempotent() throws Exception {
    TcmuAttacher a = new TcmuAttacher(kernel, -1, "overlaybd");
    a.attach(12, config, Duration.ofSeconds(5));
    a.detach(12, config, Duration.ofSeconds(5));
    assertThat(kernel.configfsObjects())
        .as("only the HBA stays, shared by every device, as upstream leaves it")
        .containsExactly(T + "/core/user_999999999");
    a.detach(12, config, Duration.ofSeconds(5));
    assertThat(a.attached(Duration.ofSeconds(1))).isEmpty();
  }
}
