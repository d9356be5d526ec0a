package dev.obd.snapshotter;

import dev.obd.snapshotter.config.ConfigException;
import dev.obd.snapshotter.config.ConfigLoader;
import dev.obd.snapshotter.config.SnapshotterConfig;
import dev.obd.snapshotter.daemon.Daemon;
import dev.obd.snapshotter.daemon.Logging;
import dev.obd.snapshotter.daemon.Signals;
import dev.obd.snapshotter.daemon.SystemdNotifier;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The {@code obd-snapshotter} command: a containerd proxy snapshotter daemon. */
@Command(
    name = "obd-snapshotter",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description =
        "Serves containerd's snapshots API on a unix socket for ordinary and OverlayBD images."
            + " Reads the Go overlaybd-snapshotter's config.json; flags override it.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:stopped by SIGTERM or SIGINT",
      "1:could not start or failed while running",
      "2:invalid command line or configuration"
    })
public final class Main implements Callable<Integer> {
  private static final Logger LOG = Logger.getLogger(Main.class.getName());

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "configuration file (default: /etc/overlaybd-snapshotter/config.json if it exists, else"
              + " built-in defaults)")
  private Path config;

  @Parameters(
      arity = "0..1",
      paramLabel = "CONFIG",
      description = "configuration file, as upstream's only argument; --config takes precedence")
  private Path positionalConfig;

  @Option(names = "--root", paramLabel = "DIR", description = "snapshotter root directory")
  private String root;

  @Option(names = "--address", paramLabel = "SOCKET", description = "gRPC unix socket path")
  private String address;

  @Option(
      names = "--log-level",
      paramLabel = "LEVEL",
      description = "trace, debug, info, warn, error, fatal or panic")
  private String logLevel;

  /** Used by the launcher's class-data-sharing training start: serve, then stop at once. */
  @Option(names = "--exit-when-ready", hidden = true)
  private boolean exitWhenReady;

  /** Rounds of warm-up calls before the socket appears (for measurements; 0: none). */
  @Option(names = "--warm-up-rounds", hidden = true)
  private int warmUpRounds = Daemon.DEFAULT_WARM_UP_ROUNDS;

  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    ConfigLoader.Loaded loaded;
    SnapshotterConfig cfg;
    try {
      loaded = ConfigLoader.load(config != null ? config : positionalConfig);
      cfg = loaded.config();
      if (root != null) {
        cfg = cfg.withRoot(ConfigLoader.checkRoot("--root", root));
      }
      if (address != null) {
        cfg = cfg.withAddress(ConfigLoader.checkAddress("--address", address));
      }
      if (logLevel != null) {
        cfg = cfg.withVerbose(ConfigLoader.checkLogLevel("--log-level", logLevel));
      }
    } catch (ConfigException e) {
      System.err.println("obd-snapshotter: " + e.getMessage());
      return 2;
    }
    Logging.configure(cfg.verbose(), cfg.logReportCaller());
    loaded.warnings().forEach(LOG::warning);
    LOG.info(
        "obd-snapshotter "
            + new Version().getVersion()[0]
            + " starting with "
            + (loaded.source() == null ? "built-in defaults" : "config " + loaded.source()));

    CountDownLatch stopRequested = new CountDownLatch(1);
    Signals.handleTermination(stopRequested::countDown);

    Daemon daemon;
    try {
      daemon = Daemon.start(cfg, SystemdNotifier.fromEnvironment(), warmUpRounds);
    } catch (Exception e) {
      LOG.log(Level.SEVERE, "failed to start: " + e.getMessage(), e);
      return 1;
    }
    if (exitWhenReady) {
      stopRequested.countDown();
    }
    stopRequested.await();
    LOG.info("stop requested");
    daemon.stop();
    return 0;
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {v == null ? "development" : v};
    }
  }
}
