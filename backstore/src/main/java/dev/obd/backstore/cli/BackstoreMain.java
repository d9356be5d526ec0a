package dev.obd.backstore.cli;

import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.backstore.config.BackstoreConfigException;
import dev.obd.backstore.daemon.BackstoreDaemon;
import dev.obd.daemonsupport.Logging;
import dev.obd.daemonsupport.SystemdNotifier;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code obd-backstore}: the daemon's entry point. */
@Command(
    name = "obd-backstore",
    mixinStandardHelpOptions = true,
    version = "obd-backstore 0.1.0",
    description = {
      "Serves OverlayBD images (config.v1.json) as block devices: kernel /dev/nbdN where the",
      "kernel has nbd, else nbdfuse + a loop device. Layers come from local files or lazily",
      "from the registry through a persistent range cache. Control API: HTTP/JSON on the unix",
      "socket (POST/GET /v1/devices, GET|DELETE /v1/devices/{id|device|config}, GET /v1/info)."
    })
public final class BackstoreMain implements Callable<Integer> {
  private static final Logger LOG = Logger.getLogger(BackstoreMain.class.getName());

  @Option(
      names = "--config",
      description =
          "config file [default: ${DEFAULT-VALUE}]; a missing default file means defaults",
      defaultValue = "/etc/obd/backstore.json")
  Path config;

  @Option(
      names = "--log-level",
      description = "overrides logLevel: trace|debug|info|warn|error (or warning, fatal, panic)")
  String logLevel;

  /** Exit code for a config file that cannot be used, as obd-snapshotter's. */
  static final int EXIT_CONFIG = 2;

  @Override
  public Integer call() throws Exception {
    BackstoreConfig.Loaded loaded;
    String level;
    try {
      loaded = BackstoreConfig.load(config);
      level = logLevel != null ? Logging.checkLevel(logLevel) : loaded.config().logLevel();
    } catch (BackstoreConfigException e) {
      System.err.println("obd-backstore: " + e.getMessage());
      return EXIT_CONFIG;
    } catch (IllegalArgumentException e) {
      System.err.println("obd-backstore: flag --log-level: " + e.getMessage());
      return EXIT_CONFIG;
    }
    BackstoreConfig cfg = loaded.config();
    Logging.configure(level);
    loaded.warnings().forEach(LOG::warning);
    BackstoreDaemon.run(cfg, SystemdNotifier.fromEnvironment());
    return 0;
  }

  public static void main(String[] args) {
    CommandLine cl = new CommandLine(new BackstoreMain());
    cl.getCommandSpec().usageMessage().footer("", BackstoreConfig.describeKeys());
    cl.setExecutionExceptionHandler(
        (ex, line, parse) -> {
          System.err.println("obd-backstore: " + ex.getMessage());
          return 1;
        });
    System.exit(cl.execute(args));
  }
}
