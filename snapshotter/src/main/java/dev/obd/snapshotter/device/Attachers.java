package dev.obd.snapshotter.device;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/** Chooses the device attacher the configuration asks for, and says which at start. */
public final class Attachers {
  private static final Logger LOG = Logger.getLogger(Attachers.class.getName());
  private static final Path CONFIGFS_TARGET = Path.of("/sys/kernel/config/target");

  private Attachers() {}

  /**
   * {@code tcmu}, {@code nbd}, or for {@code auto}: tcmu when the kernel has configfs targets and
   * upstream's overlaybd-tcmu is running to serve them, else nbd through obd-backstore.
   */
  public static DeviceAttacher select(
      String choice, int tenant, Path backstoreSocket, Path snapshotsDir) {
    String chosen = choice;
    String why = "configured";
    if (choice.equals("auto")) {
      boolean configfs = Files.isDirectory(CONFIGFS_TARGET);
      boolean tcmuServer = processRunning("overlaybd-tcmu");
      chosen = configfs && tcmuServer ? "tcmu" : "nbd";
      why =
          configfs && tcmuServer
              ? "configfs targets and overlaybd-tcmu found"
              : (configfs ? "overlaybd-tcmu is not running" : "no configfs target support")
                  + ", using obd-backstore at "
                  + backstoreSocket;
    }
    LOG.info("OverlayBD devices are attached with " + chosen + " (" + why + ")");
    return chosen.equals("tcmu")
        ? new TcmuAttacher(new HostKernelFiles(), tenant, "overlaybd")
        : new NbdAttacher(backstoreSocket, snapshotsDir);
  }

  private static boolean processRunning(String name) {
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : procs) {
        try {
          if (Files.readString(p.resolve("comm")).strip().equals(name)) {
            return true;
          }
        } catch (IOException vanished) {
          // the process exited meanwhile
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }
}
