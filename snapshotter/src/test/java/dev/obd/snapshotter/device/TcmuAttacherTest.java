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
            "write /sys/class/scsi_device/3:0:1:0/device/timeout = 2147483");
    assertThat(kernel.read("/sys/class/scsi_device/3:0:1:0/device/timeout"))
        .as("set through the SCSI device: the disk's /sys/block entry may not exist yet")
        .isEqualTo("2147483");
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
  void anEnableTheHandlerRefusedLeadsWithTheHandlersReasonAndKeepsTheConfigfsDetailAfterIt()
      throws Exception {
    Files.delete(config);
    String dev = T + "/core/user_999999999/dev_9";
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(9, config, Duration.ofSeconds(5)))
        .isInstanceOf(AttachException.class)
        .hasMessage(
            "attach tcmu device for snapshot 9 (config "
                + config
                + "): overlaybd-tcmu: open config "
                + config.toAbsolutePath()
                + ": No such file (failed to enable target "
                + dev
                + ": write \"1\" to "
                + dev
                + "/enable: No such file or directory)");
    assertThat(kernel.configfsObjects()).isEmpty();
  }

  @Test
  void aResultLeftByAnEarlierAttachIsNotTakenForTheHandlersReason() throws Exception {
    Files.writeString(block.resolve("init-debug.log"), "failed:registry answered 503 yesterday");
    kernel.handlerRegistered = "none";
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(9, config, Duration.ofSeconds(5)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("no TCMU handler overlaybd")
        .hasMessageNotContaining("yesterday");
  }

  @Test
  void theDiskIsHandedOutOnlyOnceItOpensAndReads() throws Exception {
    kernel.openDelayMillis = 200;
    String device =
        new TcmuAttacher(kernel, -1, "overlaybd").attach(5, config, Duration.ofSeconds(10));
    assertThat(kernel.refusedOpens)
        .as("the disk was in sysfs but refused opens with ENXIO for a while")
        .isGreaterThan(1);
    assertThat(kernel.readStart(device, 4096))
        .as("the disk handed out opens and reads at once")
        .isEqualTo(4096);
  }

  @Test
  void aDiskThatAppearsButNeverOpensFailsAtTheDeadlineNamingItAndTheWaitAndLeavesNothing() {
    kernel.openDelayMillis = -1;
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(4, config, Duration.ofMillis(500)))
        .isInstanceOf(AttachException.class)
        .hasMessageStartingWith("attach tcmu device for snapshot 4 (config " + config + "): ")
        .hasMessageMatching(
            ".*: /dev/sdb did not open and read within [0-9]+ ms \\([0-9]+ attempts; last: open"
                + " /dev/sdb: No such device or address\\)");
    assertThat(kernel.configfsObjects()).isEmpty();
  }

  @Test
  void aDiskWhoseReadsFailWithAnIoErrorFailsAtOnceInsteadOfWaiting() {
    kernel.readErrno = 5;
    long t0 = System.nanoTime();
    assertThatThrownBy(
            () ->
                new TcmuAttacher(kernel, -1, "overlaybd").attach(4, config, Duration.ofSeconds(60)))
        .isInstanceOf(AttachException.class)
        .hasMessageContaining("/dev/sdb cannot be read")
        .hasMessageContaining("read /dev/sdb: Input/output error");
    assertThat(Duration.ofNanos(System.nanoTime() - t0))
        .as("EIO says the disk is broken, not late: no waiting for the deadline")
        .isLessThan(Duration.ofSeconds(30));
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
