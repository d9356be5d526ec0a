package dev.obd.it.e2e.support;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.testsupport.containerd.Containerd;
import java.time.Duration;

/**
 * A container that appends a line to {@code /tmp/log} every 50 ms, to show that a running container
 * keeps working while the snapshotter restarts. Killed and deleted by {@link #close}.
 */
public final class WritingContainer implements AutoCloseable {
  private final Containerd containerd;
  private final String namespace;
  private final String id;

  private WritingContainer(Containerd containerd, String namespace, String id) {
    this.containerd = containerd;
    this.namespace = namespace;
    this.id = id;
  }

  /** Runs it detached from {@code image} with snapshotter {@code snapshotter}. */
  public static WritingContainer start(
      Containerd containerd, String namespace, String snapshotter, String image, String id) {
    containerd.ctr(
        namespace,
        "run",
        "-d",
        "--snapshotter",
        snapshotter,
        image,
        id,
        "/bin/sh",
        "-c",
        "i=0; while true; do echo $i >> /tmp/log; i=$((i+1)); sleep 0.05; done");
    return new WritingContainer(containerd, namespace, id);
  }

  public String id() {
    return id;
  }

  /** Waits (at most 30 s) until its log has grown by at least 5 lines. */
  public void awaitGrowth() throws InterruptedException {
    int before = lines();
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (lines() < before + 5) {
      assertThat(System.nanoTime()).as("the container keeps writing").isLessThan(end);
      Thread.sleep(100);
    }
  }

  private int lines() {
    String out =
        containerd
            .ctrResult(
                namespace,
                "tasks",
                "exec",
                "--exec-id",
                "n" + System.nanoTime(),
                id,
                "/bin/sh",
                "-c",
                "cat /tmp/log 2>/dev/null | wc -l")
            .output()
            .strip();
    return out.isEmpty()
        ? 0
        : Integer.parseInt(out.lines().reduce((a, b) -> b).orElse("0").strip());
  }

  @Override
  public void close() throws InterruptedException {
    containerd.ctrResult(namespace, "tasks", "kill", "-s", "SIGKILL", id);
    for (int i = 0;
        i < 50 && containerd.ctrResult(namespace, "tasks", "delete", id).exit() != 0;
        i++) {
      Thread.sleep(100);
    }
    containerd.ctrResult(namespace, "containers", "delete", id);
  }
}
