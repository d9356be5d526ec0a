package dev.obd.backstore.cli;

import dev.obd.backstore.config.BackstoreConfig;
import dev.obd.backstore.device.DataPlane;
import dev.obd.daemonsupport.Logging;
import dev.obd.daemonsupport.Signals;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code obdctl nbd}: NBD tools for debugging. {@code obdctl nbd serve --config FILE --unix SOCKET}
 * serves one image in the foreground until interrupted, with the daemon's settings (cache,
 * credentials, timeouts) from {@code --backstore-config}.
 */
@Command(
    name = "nbd",
    description = "NBD tools of the obd-backstore data plane",
    mixinStandardHelpOptions = true,
    subcommands = {NbdCommand.Serve.class})
public final class NbdCommand implements Callable<Integer> {
  @Override
  public Integer call() {
    System.err.println("usage: obdctl nbd serve --config FILE --unix SOCKET");
    return 2;
  }

  /** Runs {@code nbd} standalone (for scripts and tests without the obdctl launcher). */
  public static void main(String[] args) {
    System.exit(new picocli.CommandLine(new NbdCommand()).execute(args));
  }

  /** Serves one export in the foreground. */
  @Command(
      name = "serve",
      mixinStandardHelpOptions = true,
      description = {
        "Serve the image of a config.v1.json as an NBD export on a unix socket, in the foreground",
        "(Ctrl-C stops). Try: nbdinfo 'nbd+unix:///?socket=SOCKET'"
      })
  public static final class Serve implements Callable<Integer> {
    private static final Logger LOG = Logger.getLogger(Serve.class.getName());

    @Option(names = "--config", required = true, description = "the image's config.v1.json")
    Path config;

    @Option(names = "--unix", required = true, description = "unix socket to listen on")
    Path socket;

    @Option(
        names = "--backstore-config",
        defaultValue = "/etc/obd/backstore.json",
        description =
            "daemon settings for cache, credentials, timeouts [default: ${DEFAULT-VALUE}]")
    Path backstoreConfig;

    @Option(
        names = "--export-name",
        defaultValue = "obd",
        description = "[default: ${DEFAULT-VALUE}]")
    String exportName;

    @Option(names = "--block-size", description = "512 or 4096 (overrides the daemon setting)")
    Integer blockSize;

    @Option(
        names = "--cache-dir",
        description = "range cache directory (overrides the daemon setting)")
    Path cacheDir;

    @Override
    public Integer call() throws Exception {
      BackstoreConfig.Loaded loaded = BackstoreConfig.load(backstoreConfig);
      BackstoreConfig base = loaded.config();
      BackstoreConfig cfg =
          base.toBuilder()
              .blockSize(blockSize != null ? blockSize : base.blockSize())
              .cacheConfig(
                  cacheDir != null
                      ? base.cacheConfig().withCacheDir(cacheDir.toString())
                      : base.cacheConfig())
              .build();
      Logging.configure(cfg.logLevel());
      loaded.warnings().forEach(LOG::warning);
      CountDownLatch stop = new CountDownLatch(1);
      Signals.onTermination(stop::countDown);
      try (DataPlane plane = DataPlane.start(cfg);
          DataPlane.Served served =
              plane.serve(config.toAbsolutePath(), socket.toAbsolutePath(), exportName)) {
        System.out.println(
            "serving "
                + config
                + " ("
                + served.disk().size()
                + " bytes, "
                + (served.disk().writable() ? "writable" : "read-only")
                + ") on nbd+unix:///"
                + exportName
                + "?socket="
                + socket.toAbsolutePath());
        System.out.flush();
        stop.await();
      }
      return 0;
    }
  }
}
