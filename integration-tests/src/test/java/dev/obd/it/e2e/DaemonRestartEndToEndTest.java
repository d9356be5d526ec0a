package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.it.e2e.support.WritingContainer;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What an operator does to the snapshotter while containerd is busy: restart it (systemd with
 * KillMode=process), or lose it to SIGKILL in the middle of a pull.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DaemonRestartEndToEndTest {
  private E2eEnvironment env;
  private String smallRef;

  @BeforeAll
  void start() throws Exception {
    env = E2eEnvironment.start("restart");
    smallRef =
        TestImages.small("unused", "still here")
            .push(env.workDir("small"), env.registry.host(), "obdtest/small", "v1");
    env.containerd.ctr(
        "default", "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, smallRef);
  }

  @AfterAll
  void stop() {
    if (env != null) {
      env.close();
    }
  }

  private String ctr(String... args) {
    return env.containerd.ctr("default", args);
  }

  @Test
  void aRunningContainerKeepsWritingAcrossARestartAndAKillOfTheDaemon() throws Exception {
    try (WritingContainer writer =
        WritingContainer.start(env.containerd, "default", SNAPSHOTTER, smallRef, "writer")) {
      String id = writer.id();
      writer.awaitGrowth();
      env.restartDaemon();
      assertThat(ctr("tasks", "ls")).containsPattern(id + "\\s+\\d+\\s+RUNNING");
      writer.awaitGrowth();
      assertThat(
              env.containerd.runContainer(
                  "default", SNAPSHOTTER, smallRef, "after-restart", "/bin/cat", "/data/id"))
          .isEqualTo("still here\n");

      env.killAndRestartDaemon();
      assertThat(ctr("tasks", "ls")).containsPattern(id + "\\s+\\d+\\s+RUNNING");
      writer.awaitGrowth();
      assertThat(
              env.containerd.runContainer(
                  "default", SNAPSHOTTER, smallRef, "after-kill", "/bin/cat", "/data/id"))
          .isEqualTo("still here\n");
    }
  }

  @Test
  void aKillDuringAPullIsFollowedByASuccessfulRetryAndNothingLeaks() throws Exception {
    String ns = "killpull";
    OciImage big = TestImages.randomLayers(11, 8 << 20, 42); // a pull long enough to interrupt
    String ref = big.push(env.workDir("big"), env.registry.host(), "obdtest/big", "v1");
    List<String> pull =
        env.containerd.ctrCommand(
            ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    Path log = env.workDir("big").resolve("pull.log");
    try (ChildProcess p = ChildProcess.start("ctr pull", pull, log, Map.of())) {
      Path daemonLog = env.daemon().process().log();
      p.awaitCondition(
          "a few layers committed", Duration.ofMinutes(2), () -> countCommits(daemonLog, ns) >= 4);
      env.killAndRestartDaemon();
      int exit = p.awaitExit(Duration.ofMinutes(2));
      assertThat(exit).as("the interrupted pull fails: " + p.logTail(5)).isNotZero();
    }
    env.containerd.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", SNAPSHOTTER, ref);
    assertThat(
            env.containerd.runContainer(ns, SNAPSHOTTER, ref, "big-run", "/bin/cat", "/data/top"))
        .isEqualTo("top is layer 11\n");
    env.containerd.ctr(ns, "images", "rm", "--sync", ref);
    env.daemon().client().cleanup();
    assertThat(env.daemon().client().list("name~=^" + ns + "/"))
        .as("after image removal and GC, nothing of the interrupted or retried pull remains")
        .isEmpty();
    try (Stream<Path> dirs = Files.list(env.daemon().root().resolve("snapshots"))) {
      List<String> names = dirs.map(d -> d.getFileName().toString()).toList();
      assertThat(names).noneMatch(n -> n.startsWith("new-"));
      assertThat(names).hasSize(env.daemon().client().list().size());
    }
  }

  private static long countCommits(Path daemonLog, String ns) {
    try {
      return Files.readAllLines(daemonLog).stream()
          .filter(l -> l.contains("Commit ") && l.contains("name=\"" + ns + "/"))
          .count();
    } catch (java.io.IOException e) {
      return 0;
    }
  }
}
