package dev.obd.backstore.device;

import dev.obd.backstore.config.DownloadConfig;
import dev.obd.backstore.prefetch.BackgroundDownloader;
import dev.obd.backstore.prefetch.SwitchableSource;
import dev.obd.backstore.prefetch.TraceFile;
import dev.obd.backstore.prefetch.TraceRecorder;
import dev.obd.backstore.prefetch.TraceReplayer;
import dev.obd.image.ByteSource;
import dev.obd.image.LayerFormatException;
import dev.obd.image.config.ImageConfig;
import dev.obd.image.config.LowerConfig;
import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerReader;
import dev.obd.image.layer.LayerStack;
import dev.obd.image.lsmt.WritableLayer;
import dev.obd.image.tar.TarWrapper;
import dev.obd.registry.RegistryClient;
import dev.obd.registry.RemoteBlobSource;
import dev.obd.registry.cache.RangeCache;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;

/**
 * Opens the virtual disk a {@code config.v1.json} describes: each lower from a local file or the
 * registry, peeled (tar, ZFile) with the format library, stacked with the optional writable upper;
 * plus upstream's prefetch modes (record or replay a trace, the acceleration layer's trace) and
 * background downloads. Thread-safe; one instance per daemon.
 */
final class ImageOpener {
  private static final Logger LOG = Logger.getLogger(ImageOpener.class.getName());

  private final LayerSources sources;
  private final RegistryClient registry;
  private final ExecutorService openPool;
  private final ScheduledExecutorService scheduler;
  private final DownloadConfig defaultDownload;
  private final int prefetchConcurrency;

  ImageOpener(
      RegistryClient registry,
      RangeCache cache,
      ExecutorService openPool,
      ScheduledExecutorService scheduler,
      DownloadConfig defaultDownload,
      int prefetchConcurrency) {
    this.sources = new LayerSources(registry, cache);
    this.registry = registry;
    this.openPool = openPool;
    this.scheduler = scheduler;
    this.defaultDownload = defaultDownload;
    this.prefetchConcurrency = prefetchConcurrency;
  }

  OpenedImage open(ImageConfig config, String name) throws IOException {
    if (config.lowers().isEmpty() && !config.upper().isWritable()) {
      throw new IOException("the config has no lowers and no writable upper");
    }
    for (int i = 0; i < config.lowers().size(); i++) {
      LowerConfig l = config.lowers().get(i);
      if (l.file().isEmpty() && l.dir().isEmpty() && l.digest().isEmpty()) {
        throw new IOException("lowers[" + i + "] names no file, dir or digest");
      }
      if (!l.targetDigest().isEmpty() || !l.targetFile().isEmpty() || !l.gzipIndex().isEmpty()) {
        throw new IOException(
            "lowers[" + i + "] is a TurboOCI layer, which obd-backstore does not serve");
      }
    }
    int stacked = config.lowers().size() - (config.accelerationLayer() ? 1 : 0);
    if (stacked < 1 && config.accelerationLayer()) {
      throw new IOException("the config has only the acceleration layer and no image layers");
    }
    TraceRecorder recorder = null;
    List<TraceFile.Entry> replay = List.of();
    Path tracePath = null;
    if (config.accelerationLayer()) {
      LowerConfig acc = config.lowers().get(stacked);
      tracePath = acc.dir().isEmpty() ? null : Path.of(acc.dir(), "trace");
    } else if (!config.recordTracePath().isEmpty()) {
      tracePath = Path.of(config.recordTracePath());
    }
    if (tracePath != null && Files.isRegularFile(tracePath)) {
      if (Files.size(tracePath) == 0 && !config.accelerationLayer()) {
        recorder = TraceRecorder.start(tracePath);
      } else if (TraceFile.isTrace(tracePath)) {
        replay = TraceFile.read(tracePath);
      } else if (Files.size(tracePath) > 0) {
        LOG.warning(
            "prefetch list "
                + tracePath
                + " is a file list; file-list prefetch is not supported,"
                + " ignoring it");
      }
    }

    List<Future<Opened>> futures = new ArrayList<>();
    for (int i = 0; i < stacked; i++) {
      int k = i;
      TraceRecorder r = recorder;
      futures.add(openPool.submit(() -> openLayer(config, k, r)));
    }
    List<Opened> layers = new ArrayList<>();
    IOException failure = null;
    for (Future<Opened> f : futures) {
      try {
        layers.add(f.get());
      } catch (ExecutionException e) {
        if (failure == null) {
          failure =
              e.getCause() instanceof IOException io
                  ? io
                  : new IOException(e.getCause().toString(), e.getCause());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failure = new IOException("interrupted while opening layers", e);
      }
    }
    Optional<WritableLayer> upper = Optional.empty();
    try {
      if (failure != null) {
        throw failure;
      }
      if (config.upper().isWritable()) {
        upper =
            Optional.of(
                WritableLayer.open(
                    Path.of(config.upper().data()), Path.of(config.upper().index())));
      }
      LayerStack stack = LayerStack.of(layers.stream().map(Opened::layer).toList(), upper);
      TraceReplayer replayer = null;
      if (!replay.isEmpty()) {
        replayer =
            TraceReplayer.start(
                replay,
                layers.stream().map(Opened::lsmtSource).toList(),
                prefetchConcurrency,
                name);
      }
      List<BackgroundDownloader> downloads = new ArrayList<>();
      DownloadConfig dl = downloadSettings(config);
      if (dl.enable() && recorder == null) {
        for (int i = 0; i < layers.size(); i++) {
          Opened o = layers.get(i);
          LowerConfig lower = config.lowers().get(i);
          if (o.remote() != null && !lower.dir().isEmpty()) {
            downloads.add(
                BackgroundDownloader.schedule(
                    scheduler,
                    dl,
                    registry,
                    o.remote().blob(),
                    o.remote().size(),
                    Path.of(lower.dir()),
                    o.remote().source()));
          }
        }
      }
      if (recorder != null) {
        watchLockFile(recorder);
      }
      return new OpenedImage(stack, recorder, replayer, downloads);
    } catch (IOException | RuntimeException e) {
      for (Opened o : layers) {
        try {
          o.layer().close();
        } catch (IOException c) {
          e.addSuppressed(c);
        }
      }
      if (upper.isPresent()) {
        upper.get().close();
      }
      if (recorder != null) {
        recorder.close();
      }
      throw e;
    }
  }

  /**
   * Upstream's way to end a recording while the device stays in use: whoever wants the trace
   * deletes {@code <trace>.lock}; the trace and {@code <trace>.ok} are written within a second.
   */
  private void watchLockFile(TraceRecorder recorder) {
    AtomicReference<Future<?>> self = new AtomicReference<>();
    self.set(
        scheduler.scheduleWithFixedDelay(
            () -> {
              try {
                if (recorder.finished()) {
                  self.get().cancel(false);
                } else if (recorder.stopRequested()) {
                  recorder.finish();
                  self.get().cancel(false);
                }
              } catch (IOException e) {
                LOG.warning("write I/O trace: " + e.getMessage());
                self.get().cancel(false);
              }
            },
            1,
            1,
            TimeUnit.SECONDS));
  }

  private DownloadConfig downloadSettings(ImageConfig config) throws IOException {
    if (config.download().isEmpty()) {
      return defaultDownload;
    }
    var d = config.download().get();
    try {
      return new DownloadConfig(
          d.enable(), d.delay(), d.delayExtra(), d.maxMBps(), d.tryCnt(), (int) d.blockSize());
    } catch (IllegalArgumentException e) {
      throw new IOException("download settings of the config: " + e.getMessage(), e);
    }
  }

  /** A layer, its LSMT-file source (for trace replay), and its registry side if remote. */
  private record Opened(Layer layer, ByteSource lsmtSource, RemoteLayer remote) {}

  /** A remote layer's switchable source and the registry blob it starts out reading. */
  private record RemoteLayer(SwitchableSource source, RemoteBlobSource origin) {
    dev.obd.registry.BlobUrl blob() {
      return origin.blob();
    }

    long size() {
      return origin.size();
    }
  }

  private Opened openLayer(ImageConfig config, int index, TraceRecorder recorder)
      throws IOException {
    LayerSources.Opened raw = sources.open(config, index);
    ByteSource blob = raw.source();
    RemoteLayer remote = null;
    if (raw.remote() != null) {
      SwitchableSource s = new SwitchableSource(blob);
      remote = new RemoteLayer(s, raw.remote());
      blob = s;
    }
    try {
      // The LSMT-file source is kept, so that it can be recorded and replayed.
      RemoteLayer fetched = remote;
      ByteSource[] lsmtSource = new ByteSource[1];
      Layer layer =
          LayerReader.open(
              blob,
              (peeled, tar, zfile) -> {
                ByteSource s = peeled;
                if (zfile.isPresent() && fetched != null) {
                  s =
                      new RefetchingZFile(
                          zfile.get(),
                          tar.map(TarWrapper::payloadOffset).orElse(0L),
                          discarder(fetched));
                }
                if (recorder != null) {
                  s = recorder.wrap(s, index);
                }
                lsmtSource[0] = s;
                return s;
              });
      return new Opened(layer, lsmtSource[0], remote);
    } catch (IOException | RuntimeException e) {
      if (e instanceof LayerFormatException && remote != null && !remote.source().local()) {
        // damaged on the way here, maybe: the next attach must fetch afresh, not fail again
        remote.origin().discardAll();
      }
      blob.close();
      throw new IOException(
          "open lowers[" + index + "] (" + blob.describe() + "): " + e.getMessage(), e);
    }
  }

  /** Forgets cached ranges of a remote layer while it is read from the registry. */
  private static RefetchingZFile.Discarder discarder(RemoteLayer remote) {
    return (position, length) -> {
      if (!remote.source().local()) {
        remote.origin().discard(position, length);
      }
    };
  }
}
