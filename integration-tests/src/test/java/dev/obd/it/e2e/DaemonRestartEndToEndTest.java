package dev.obd.it.e2e;

import static dev.obd.testsupport.containerd.Containerd.SNAPSHOTTER;
import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.it.e2e.support.E2eEnvironment;
import dev.obd.testsupport.ChildProcess;
import dev.obd.testsupport.oci.OciImage;
import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TestImages;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
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
    String id = "writer";
    ctr(
        "run",
        "-d",
        "--snapshotter",
        SNAPSHOTTER,
        smallRef,
        id,
        "/bin/sh",
        "-c",
        "i=0; while true; do echo $i >> /tmp/log; i=$((i+1)); sleep 0.05; done");
    try {
      awaitGrowth(id);
      env.restartDaemon();
      assertThat(ctr("tasks", "ls")).containsPattern(id + "\\s+\\d+\\s+RUNNING");
      awaitGrowth(id);
      assertThat(
              ctr(
                  "run",
                  "--rm",
                  "--snapshotter",
                  SNAPSHOTTER,
                  smallRef,
                  "after-restart",
                  "/bin/cat",
                  "/data/id"))
          .isEqualTo("still here\n");

      env.killAndRestartDaemon();
      assertThat(ctr("tasks", "ls")).containsPattern(id + "\\s+\\d+\\s+RUNNING");
      awaitGrowth(id);
      assertThat(
              ctr(
                  "run",
                  "--rm",
                  "--snapshotter",
                  SNAPSHOTTER,
                  smallRef,
                  "after-kill",
                  "/bin/cat",
                  "/data/id"))
          .isEqualTo("still here\n");
    } finally {
      env.containerd.ctrResult("default", "tasks", "kill", "-s", "SIGKILL", id);
      for (int i = 0;
          i < 50 && env.containerd.ctrResult("default", "tasks", "delete", id).exit() != 0;
          i++) {
        Thread.sleep(100);
      }
      env.containerd.ctrResult("default", "containers", "delete", id);
    }
  }

  /** Waits (at most 30 s) until the container's log has grown by at least 5 lines. */
  private void awaitGrowth(String container) throws InterruptedException {
    int before = count(container);
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (count(container) < before + 5) {
      assertThat(System.nanoTime()).as("the container keeps writing").isLessThan(end);
      Thread.sleep(100);
    }
  }

  private int count(String container) {
    String out =
        env.containerd
            .ctrResult(
                "default",
                "tasks",
                "exec",
                "--exec-id",
                "n" + System.nanoTime(),
                container,
                "/bin/sh",
                "-c",
                "cat /tmp/log 2>/dev/null | wc -l")
            .output()
            .strip();
    return out.isEmpty()
        ? 0
        : Integer.parseInt(out.lines().reduce((a, b) -> b).orElse("0").strip());
  }

  @Test
  void aKillDuringAPullIsFollowedByASuccessfulRetryAndNothingLeaks() throws Exception {
    String ns = "killpull";
    OciImage big = bigImage();
    String ref = big.push(env.workDir("big"), env.registry.host(), "obdtest/big", "v1");
    List<String> pull =
        List.of(
            "ctr",
            "-a",
            env.containerd.socket().toString(),
            "-n",
            ns,
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            SNAPSHOTTER,
            ref);
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
            env.containerd.ctr(
                ns,
                "run",
                "--rm",
                "--snapshotter",
                SNAPSHOTTER,
                ref,
                "big-run",
                "/bin/cat",
                "/data/top"))
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

  /** Twelve layers of 8 MiB of incompressible data: a pull that takes long enough to interrupt. */
  private static OciImage bigImage() {
    Random rnd = new Random(42);
    List<TarLayer> layers = new ArrayList<>();
    layers.add(TestImages.busybox().dir("data", 0755));
    for (int i = 1; i < 12; i++) {
      byte[] blob = new byte[8 << 20];
      rnd.nextBytes(blob);
      layers.add(
          new TarLayer()
              .file("data/blob-" + i, 0644, blob)
              .file("data/top", 0644, "top is layer " + i + "\n"));
    }
    return new OciImage("unused", layers, List.of("/bin/cat", "/data/top"));
  }
}
