package dev.obd.backstore.device;

import dev.obd.backstore.prefetch.BackgroundDownloader;
import dev.obd.backstore.prefetch.TraceRecorder;
import dev.obd.backstore.prefetch.TraceReplayer;
import dev.obd.image.VirtualDisk;
import java.io.IOException;
import java.util.List;
import java.util.logging.Logger;

/**
 * An image opened from its config: the merged disk and what runs beside it (trace recording or
 * replay, background downloads). Closing stops those, writes a recorded trace, and closes the disk
 * and its layers.
 */
final class OpenedImage implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(OpenedImage.class.getName());

  final VirtualDisk disk;
  final TraceRecorder recorder;
  final TraceReplayer replayer;
  final List<BackgroundDownloader> downloads;

  OpenedImage(
      VirtualDisk disk,
      TraceRecorder recorder,
      TraceReplayer replayer,
      List<BackgroundDownloader> downloads) {
    this.disk = disk;
    this.recorder = recorder;
    this.replayer = replayer;
    this.downloads = List.copyOf(downloads);
  }

  @Override
  public void close() throws IOException {
    downloads.forEach(BackgroundDownloader::cancel);
    if (replayer != null) {
      replayer.close();
    }
    try {
      if (recorder != null) {
        recorder.finish();
      }
    } catch (IOException e) {
      LOG.warning("write I/O trace: " + e.getMessage());
    }
    disk.close();
  }
}
