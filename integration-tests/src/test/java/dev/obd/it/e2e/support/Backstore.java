package dev.obd.it.e2e.support;

import dev.obd.backstore.api.BackstoreApiException;
import dev.obd.backstore.api.BackstoreClient;
import dev.obd.backstore.api.DeviceInfo;
import dev.obd.it.support.SnapshotterDaemon;
import dev.obd.testsupport.ChildProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * obd-backstore as its own process, with its socket, state, run and cache directories under a
 * directory of the test's. On this kernel it attaches devices through nbdfuse and loop devices.
 * Stopping it removes every device it still serves, so that no loop device or FUSE mount stays.
 */
public final class Backstore {
  private Backstore() {}

  public static Path socket(Path dir) {
    return dir.resolve("backstore.sock");
  }

  public static ChildProcess start(Path dir) throws IOException {
    Files.createDirectories(dir);
    Path config = dir.resolve("backstore.json");
    Files.writeString(
        config,
        ("{\"socket\": \"%1$s/backstore.sock\", \"stateDir\": \"%1$s/state\", \"runDir\": \"%1$s/run\","
                + " \"credentialFilePath\": \"%1$s/none.json\", \"dockerConfigPath\": \"%1$s/none.json\","
                + " \"cacheConfig\": {\"cacheDir\": \"%1$s/cache\", \"cacheSizeGB\": 1},"
                + " \"logLevel\": \"debug\"}")
            .formatted(dir));
    List<String> cmd = new ArrayList<>(SnapshotterDaemon.javaCommand());
    // lz4-java unpacks its native library into java.io.tmpdir; a kill -9 would leave it in /tmp
    cmd.add(1, "-Djava.io.tmpdir=" + Files.createDirectories(dir.resolve("tmp")));
    cmd.addAll(List.of("dev.obd.backstore.cli.BackstoreMain", "--config", config.toString()));
    ChildProcess p =
        ChildProcess.start("obd-backstore", cmd, dir.resolve("backstore.log"), Map.of());
    p.awaitCondition(
        "control socket", Duration.ofSeconds(60), () -> BackstoreClient.answers(socket(dir)));
    return p;
  }

  /**
   * Removes the devices it serves, then stops it. The devices' filesystems must be unmounted first;
   * its own FUSE mounts must not be touched (a lazily detached FUSE mount leaves the loop device's
   * backing file unreachable, and the device cannot be removed any more).
   */
  public static void stop(ChildProcess p, Path dir) {
    if (p.isAlive()) {
      BackstoreClient client = new BackstoreClient(socket(dir));
      try {
        for (DeviceInfo d : client.list(Duration.ofSeconds(10))) {
          client.remove(d.id(), Duration.ofSeconds(90));
        }
      } catch (BackstoreApiException e) {
        System.err.println("backstore cleanup: " + e.getMessage());
      }
      p.terminate(Duration.ofSeconds(30));
    }
  }
}
