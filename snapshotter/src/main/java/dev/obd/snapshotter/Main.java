package dev.obd.snapshotter;

import dev.obd.daemonsupport.Logging;
import dev.obd.daemonsupport.Signals;
import dev.obd.daemonsupport.SystemdNotifier;
import dev.obd.snapshotter.config.ConfigException;
import dev.obd.snapshotter.config.ConfigLoader;
import dev.obd.snapshotter.config.SnapshotterConfig;
import dev.obd.snapshotter.daemon.Daemon;
import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.commons.cli.CommandLine;
import org.apache.commons.cli.DefaultParser;
import org.apache.commons.cli.Option;
import org.apache.commons.cli.Options;
import org.apache.commons.cli.ParseException;

/** The {@code obd-snapshotter} command: a containerd proxy snapshotter daemon. */
public final class Main {
  private static final Logger LOG = Logger.getLogger(Main.class.getName());

  static final String USAGE =
      """
      Usage: obd-snapshotter [-hV] [--address=SOCKET] [--config=FILE]
                             [--log-level=LEVEL] [--root=DIR] [CONFIG]
      Serves containerd's snapshots API on a unix socket for ordinary and OverlayBD
      images. Reads the Go overlaybd-snapshotter's config.json; flags override it.
            [CONFIG]            configuration file, as upstream's only argument;
                                  --config takes precedence
            --address=SOCKET    gRPC unix socket path
            --config=FILE       configuration file (default:
                                  /etc/overlaybd-snapshotter/config.json if it
                                  exists, else built-in defaults)
        -h, --help              Show this help message and exit.
            --log-level=LEVEL   trace, debug, info, warn, error, fatal or panic
            --root=DIR          snapshotter root directory
        -V, --version           Print version information and exit.

      Exit codes:
        0   stopped by SIGTERM or SIGINT
        1   could not start or failed while running
        2   invalid command line or configuration
      """;

  private Path config;
  private Path positionalConfig;
  private String root;
  private String address;
  private String logLevel;

  /** Used by the launcher's class-data-sharing training start: serve, then stop at once. */
  private boolean exitWhenReady;

  /** Rounds of warm-up calls before the socket appears (for measurements; 0: none). */
  private int warmUpRounds = Daemon.DEFAULT_WARM_UP_ROUNDS;

  public static void main(String[] args) throws InterruptedException {
    System.exit(run(args, System.out, System.err));
  }

  /** Parses {@code args} and runs the command; the exit code. */
  static int run(String[] args, PrintStream out, PrintStream err) throws InterruptedException {
    Options options = new Options();
    options.addOption(Option.builder("h").longOpt("help").build());
    options.addOption(Option.builder("V").longOpt("version").build());
    for (String name : List.of("config", "root", "address", "log-level", "warm-up-rounds")) {
      options.addOption(Option.builder().longOpt(name).hasArg().build());
    }
    options.addOption(Option.builder().longOpt("exit-when-ready").build());
    Main m = new Main();
    try {
      CommandLine line =
          DefaultParser.builder().setAllowPartialMatching(false).build().parse(options, args);
      if (line.hasOption("help")) {
        out.print(USAGE);
        return 0;
      }
      if (line.hasOption("version")) {
        out.println(version());
        return 0;
      }
      List<String> rest = line.getArgList();
      if (rest.size() > 1) {
        throw new ParseException(
            "unmatched arguments: " + String.join(" ", rest.subList(1, rest.size())));
      }
      m.positionalConfig = rest.isEmpty() ? null : path("CONFIG", rest.get(0));
      m.config = line.hasOption("config") ? path("--config", line.getOptionValue("config")) : null;
      m.root = line.getOptionValue("root");
      m.address = line.getOptionValue("address");
      m.logLevel = line.getOptionValue("log-level");
      m.exitWhenReady = line.hasOption("exit-when-ready");
      if (line.hasOption("warm-up-rounds")) {
        m.warmUpRounds = rounds(line.getOptionValue("warm-up-rounds"));
      }
    } catch (ParseException e) {
      err.println("obd-snapshotter: " + e.getMessage());
      err.println("obd-snapshotter --help lists the options");
      return 2;
    }
    return m.call();
  }

  private static Path path(String option, String value) throws ParseException {
    try {
      return Path.of(value);
    } catch (InvalidPathException e) {
      throw new ParseException(option + ": not a path: " + e.getMessage());
    }
  }

  private static int rounds(String value) throws ParseException {
    try {
      int n = Integer.parseInt(value);
      if (n >= 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new ParseException("--warm-up-rounds: not a count: " + value);
  }

  /** The release, from the jar's manifest. */
  static String version() {
    String v = Main.class.getPackage().getImplementationVersion();
    return v == null ? "development" : v;
  }

  private int call() throws InterruptedException {
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
            + version()
            + " starting with "
            + (loaded.source() == null ? "built-in defaults" : "config " + loaded.source()));

    CountDownLatch stopRequested = new CountDownLatch(1);
    Signals.onTermination(stopRequested::countDown);

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
}
