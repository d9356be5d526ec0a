package dev.obd.snapshotter.daemon;

import dev.obd.daemonsupport.SystemdNotifier;
import dev.obd.snapshotter.api.RpcObserver;
import dev.obd.snapshotter.api.SnapshotsService;
import dev.obd.snapshotter.api.StrictRequestParsing;
import dev.obd.snapshotter.config.SnapshotterConfig;
import dev.obd.snapshotter.cri.CriImageProxy;
import dev.obd.snapshotter.device.Attachers;
import dev.obd.snapshotter.device.DeviceAttacher;
import dev.obd.snapshotter.metrics.MetricsServer;
import dev.obd.snapshotter.metrics.SnapshotterMetrics;
import dev.obd.snapshotter.overlay.OverlayFeatures;
import dev.obd.snapshotter.overlay.OverlaySnapshotter;
import dev.obd.snapshotter.snapshots.Snapshotter;
import io.grpc.ServerInterceptors;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The running daemon: the snapshotter and the gRPC server in front of it. Owns both; {@link #stop}
 * stops accepting calls, lets calls in flight finish, then closes the metadata store. Devices and
 * mounts are deliberately left alone on stop, so that a restart never disturbs running containers.
 */
public final class Daemon {
  private static final Logger LOG = Logger.getLogger(Daemon.class.getName());

  /** How long calls in flight may take to finish after a stop was requested. */
  static final long STOP_GRACE_MILLIS = 10_000;

  /** Rounds of warm-up calls before the socket appears, see {@link WarmUp}. */
  public static final int DEFAULT_WARM_UP_ROUNDS = WarmUp.DEFAULT_ROUNDS;

  private final Snapshotter snapshotter;
  private final UnixSocketServer server;
  private final SystemdNotifier notifier;
  private final SnapshotterMetrics metrics;
  private final MetricsServer metricsServer;
  private final CriImageProxy criProxy;
  private final UnixSocketServer criServer;

  private Daemon(
      Snapshotter snapshotter,
      UnixSocketServer server,
      SystemdNotifier notifier,
      SnapshotterMetrics metrics,
      MetricsServer metricsServer,
      CriImageProxy criProxy,
      UnixSocketServer criServer) {
    this.snapshotter = snapshotter;
    this.server = server;
    this.notifier = notifier;
    this.metrics = metrics;
    this.metricsServer = metricsServer;
    this.criProxy = criProxy;
    this.criServer = criServer;
  }

  /**
   * Opens the snapshotter, starts the metrics endpoint if configured, warms up (see {@link WarmUp})
   * and only then puts the socket in place and tells systemd it is ready.
   */
  public static Daemon start(SnapshotterConfig config, SystemdNotifier notifier)
      throws IOException, InterruptedException {
    return start(config, notifier, DEFAULT_WARM_UP_ROUNDS);
  }

  /** As {@link #start(SnapshotterConfig, SystemdNotifier)}, with {@code warmUpRounds} (0: none). */
  public static Daemon start(SnapshotterConfig config, SystemdNotifier notifier, int warmUpRounds)
      throws IOException, InterruptedException {
    List<String> overlayOptions = OverlayFeatures.detect();
    AtomicReference<DeviceAttacher> attacher = new AtomicReference<>();
    Snapshotter snapshotter =
        OverlaySnapshotter.open(
            config.root(),
            config.asyncRemove(),
            overlayOptions,
            new OverlaySnapshotter.BlockSupport(
                snapshotsDir -> {
                  attacher.set(
                      Attachers.select(
                          config.attacher(),
                          config.tenant(),
                          config.backstoreAddress(),
                          snapshotsDir));
                  return attacher.get();
                },
                config.defaultFsType(),
                config.traceDirectory(),
                config.mirrorRegistry(),
                config.autoRemoveDev(),
                config.rwMode(),
                config.remoteAccessCheck(),
                config.writableLayerType().equals("sparse")));
    SnapshotterMetrics metrics = null;
    MetricsServer metricsServer = null;
    UnixSocketServer server = null;
    CriImageProxy criProxy = null;
    UnixSocketServer criServer = null;
    try {
      SnapshotterConfig.Exporter exporter = config.exporter();
      if (exporter.enable()) {
        metrics = new SnapshotterMetrics(snapshotter::countByKind);
        metricsServer =
            MetricsServer.start(metrics, exporter.host(), exporter.port(), exporter.uriPrefix());
        LOG.info(
            "metrics on http://"
                + exporter.host()
                + ":"
                + metricsServer.port()
                + exporter.uriPrefix());
      }
      RpcObserver observer = new RpcObserver(metrics);
      HandOverSnapshotter served = new HandOverSnapshotter(snapshotter);
      var service =
          ServerInterceptors.intercept(
              StrictRequestParsing.apply(new SnapshotsService(served).bindService()), observer);
      server = UnixSocketServer.bind(config.address(), List.of(service));
      if (warmUpRounds > 0) {
        warmUp(server, served, snapshotter, observer, overlayOptions, warmUpRounds);
      }
      server.publish();
      LOG.info(
          "serving containerd.services.snapshots.v1.Snapshots on "
              + config.address()
              + " (root "
              + config.root()
              + ", overlay options "
              + overlayOptions
              + ")");
      SnapshotterConfig.CriImageService cri = config.criImageService();
      if (cri.enable()) {
        // after the snapshotter's socket: a pull through the proxy reaches it through containerd
        criProxy =
            CriImageProxy.open(
                cri.containerdAddress(),
                attacher.get() == null ? Optional.empty() : attacher.get().credentialPush(),
                cri.credentialTtl(),
                cri.maxCredentials());
        criServer =
            UnixSocketServer.start(
                cri.address(), List.of(), criProxy.handlers(), CriImageProxy.MAX_MESSAGE_BYTES);
        LOG.info(
            "serving runtime.v1.ImageService on "
                + cri.address()
                + " for kubelet's --image-service-endpoint, forwarded to containerd at "
                + cri.containerdAddress()
                + " (pull credentials kept in memory for "
                + cri.credentialTtl()
                + ")");
      }
      if (metrics != null) {
        metrics.setAlive(true);
      }
      notifier.notify("READY=1");
      return new Daemon(snapshotter, server, notifier, metrics, metricsServer, criProxy, criServer);
    } catch (IOException | RuntimeException | InterruptedException e) {
      if (criServer != null) {
        criServer.shutdownNow();
      }
      if (criProxy != null) {
        criProxy.close();
      }
      if (server != null) {
        server.shutdownNow();
      }
      if (metricsServer != null) {
        metricsServer.close();
      }
      snapshotter.close();
      throw e;
    }
  }

  /**
   * Serves a scratch snapshotter through {@code served} while the warm-up calls run, unobserved by
   * metrics and logs, then hands over to {@code real}; when no scratch root can be made, the daemon
   * starts without a warm-up.
   */
  private static void warmUp(
      UnixSocketServer server,
      HandOverSnapshotter served,
      Snapshotter real,
      RpcObserver observer,
      List<String> overlayOptions,
      int rounds)
      throws InterruptedException {
    WarmUp.Scratch scratch;
    try {
      scratch = WarmUp.openScratch(overlayOptions);
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.WARNING, "no scratch root for the warm-up; first calls may be slow", e);
      return;
    }
    try (scratch) {
      served.handOver(scratch.snapshotter());
      observer.mute();
      WarmUp.run(server, rounds);
    } finally {
      served.handOver(real);
      observer.unmute();
    }
  }

  public void stop() throws InterruptedException {
    notifier.notify("STOPPING=1");
    if (metrics != null) {
      metrics.setAlive(false);
    }
    try {
      if (criServer != null) {
        try {
          criServer.shutdown(STOP_GRACE_MILLIS);
        } finally {
          criProxy.close();
        }
      }
      server.shutdown(STOP_GRACE_MILLIS);
    } finally {
      if (metricsServer != null) {
        metricsServer.close();
      }
      snapshotter.close();
    }
    LOG.info("stopped");
  }
}
