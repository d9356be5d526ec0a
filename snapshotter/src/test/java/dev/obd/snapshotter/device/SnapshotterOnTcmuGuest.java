package dev.obd.snapshotter.device;

import dev.obd.image.config.ImageConfigJson;
import dev.obd.proto.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.obd.proto.containerd.snapshots.v1.SnapshotsGrpc;
import dev.obd.proto.containerd.snapshots.v1.StatSnapshotRequest;
import dev.obd.snapshotter.api.SnapshotsService;
import dev.obd.snapshotter.api.StrictRequestParsing;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.daemon.UnixSocketServer;
import dev.obd.snapshotter.overlay.OverlayFeatures;
import dev.obd.snapshotter.overlay.OverlaySnapshotter;
import dev.obd.testsupport.containerd.Containerd;
import dev.obd.testsupport.grpc.UnixSocketChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The snapshotter part of {@link TcmuVmGuest}: obd-snapshotter serving containerd in the guest, its
 * OverlayBD devices attached by {@link TcmuAttacher} through the guest's real configfs, served by
 * tcmu-runner behind {@link OverlayBdStandIn}. The snapshotter is put together as {@code
 * Daemon.start} does (the metadata store, the overlay snapshotter, its gRPC service on a unix
 * socket), without metrics and systemd notification, and with that attacher instead of {@link
 * Attachers#select}'s. Its restart is a stop (the server shut down, the snapshotter closed, as
 * {@code Daemon.stop} does, leaving devices and mounts alone) and a new snapshotter opened on the
 * same root in the same JVM: the two share no state in memory, so the new one knows only what the
 * metadata, configfs and the mount table tell it; a second JVM would cost a minute under TCG.
 *
 * <p>Drives containerd with {@code ctr}: imports the multi-layer OverlayBD image (unpacked as a
 * plain pull unpacks it: each layer tar holds an {@code overlaybd.commit}, committed as a local
 * block layer), runs a container on the image's shared read-only device and one in rwMode {@code
 * dev} (its own writable device, which containerd mounts), restarts the snapshotter under both,
 * checks that both still read and write through their devices, then removes containers and image.
 * The dev container asks for its mode with the {@code overlaybd.writable} label: a configured
 * {@code rwMode: dev} would also give the import's extraction snapshots writable devices until
 * those are recognised (issue 15, item 1). Reports what it saw; asserts nothing.
 */
final class SnapshotterOnTcmuGuest {
  static final String NAMESPACE = "obd";
  static final String IMAGE = "obd/multi:v1";
  static final String WRITABLE = "containerd.io/snapshot/overlaybd.writable";
  private static final Path WORK = Path.of("/run/obd");
  private static final Duration RECONCILE_DEADLINE = Duration.ofSeconds(180);
  private static final Duration CLEANUP_DEADLINE = Duration.ofSeconds(120);

  /** The multi-layer facts, read in a container: the image's layers merged as overlaybd does. */
  static final String MULTI_LAYER_SCRIPT =
      "cat /data/keep; test -e /data/gone && echo gone-present || echo gone-absent;"
          + " ls /data/opq; cat /data/recreate/new; readlink /data/link; cat /data/link";

  private final GuestReport report;
  private final Path root = WORK.resolve("root");
  private final Path socket = WORK.resolve("obd.sock");
  private final TcmuAttacher observer =
      new TcmuAttacher(new HostKernelFiles(), -1, OverlayBdStandIn.HANDLER);
  private Containerd containerd;
  private OverlaySnapshotter snapshotter;
  private UnixSocketServer server;

  private SnapshotterOnTcmuGuest(GuestReport report) {
    this.report = report;
  }

  /**
   * Starts the snapshotter, warms it up and starts containerd on it; the guest does this while the
   * attacher's own checks run, to save some of the minute a cold JVM takes here.
   */
  static SnapshotterOnTcmuGuest start(GuestReport report) throws Exception {
    SnapshotterOnTcmuGuest s = new SnapshotterOnTcmuGuest(report);
    long t0 = System.nanoTime();
    s.startSnapshotter();
    report.put("snapshotter-start-millis", millisSince(t0));
    try {
      t0 = System.nanoTime();
      s.warmUp();
      report.put("warm-up-millis", millisSince(t0));
      s.containerd = Containerd.start(WORK.resolve("containerd"), s.containerdConfig(), null);
    } catch (Exception | Error e) {
      s.stopSnapshotter();
      throw e;
    }
    return s;
  }

  /** The scenario; stops containerd and the snapshotter at the end, whatever happened. */
  void run(Path imageTar) throws Exception {
    try {
      imageAndContainers(imageTar);
      restart();
      afterRestart();
      cleanup();
    } finally {
      try {
        containerd.close();
      } finally {
        stopSnapshotter();
      }
    }
  }

  private void imageAndContainers(Path imageTar) throws Exception {
    ctr("images", "import", "--base-name", "obd/multi", "--snapshotter", "overlaybd", imageTar);
    Map<Long, String> imported = attachedDevices();
    report.put("devices-after-import", new TreeMap<>(imported).toString());
    ctr("run", "-d", "--snapshotter", "overlaybd", IMAGE, "ro-1", "/bin/sleep", "100000");
    Map<Long, String> ro = new TreeMap<>(attachedDevices());
    report.put("devices-with-ro", ro.toString());
    ro.keySet().removeAll(imported.keySet());
    if (ro.size() == 1) { // the image's device: its top layer's
      long top = ro.keySet().iterator().next();
      Path config = root.resolve("snapshots/" + top + "/block/config.v1.json");
      report.put("image-lowers", Integer.toString(ImageConfigJson.read(config).lowers().size()));
    }
    report.put(
        "ro-before",
        exec(
            "ro-1",
            MULTI_LAYER_SCRIPT
                + "; grep ' / ' /proc/mounts | cut -d' ' -f1,3; echo ro-before > /ro-written"));

    ctr(
        "run",
        "-d",
        "--snapshotter",
        "overlaybd",
        "--snapshotter-label",
        WRITABLE + "=dev",
        IMAGE,
        "dev-1",
        "/bin/sleep",
        "100000");
    report.put("devices-with-dev", devices());
    report.put(
        "dev-before",
        exec(
            "dev-1",
            "grep ' / ' /proc/mounts | cut -d' ' -f1,3; "
                + MULTI_LAYER_SCRIPT
                + "; echo dev-before > /dev-written; sync"));
    report.put(
        "dev-mounts", ctr("snapshots", "--snapshotter", "overlaybd", "mounts", "/mnt/x", "dev-1"));
    report.put("objects-before-restart", TcmuVmGuest.objects());
  }

  /** Stops the snapshotter and opens it again on the same root; reports what reconciliation did. */
  private void restart() throws Exception {
    List<String> complaints = new ArrayList<>();
    Handler warnings =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
              synchronized (complaints) {
                complaints.add(r.getLoggerName() + ": " + r.getMessage());
              }
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    Logger obd = Logger.getLogger("dev.obd.snapshotter");
    obd.addHandler(warnings);
    try {
      long t0 = System.nanoTime();
      stopSnapshotter();
      report.put("stopped", devices());
      startSnapshotter();
      awaitReconciliation();
      report.put("restart-millis", millisSince(t0));
    } finally {
      obd.removeHandler(warnings);
    }
    synchronized (complaints) {
      report.put(
          "restart-warnings", complaints.isEmpty() ? "(none)" : String.join(" | ", complaints));
    }
    report.put("devices-after-restart", devices());
    report.put("objects-after-restart", TcmuVmGuest.objects());
    long t0 = System.nanoTime();
    report.put(
        "dev-mounts-after-restart",
        awaitCtr(
            Duration.ofSeconds(120),
            "snapshots",
            "--snapshotter",
            "overlaybd",
            "mounts",
            "/mnt/x",
            "dev-1"));
    report.put("containerd-reconnect-millis", millisSince(t0));
  }

  private void afterRestart() throws Exception {
    // what the containers read next comes from their devices, not from the page cache
    Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
    report.put(
        "ro-after",
        exec(
            "ro-1",
            "cat /ro-written; "
                + MULTI_LAYER_SCRIPT
                + "; echo ro-after > /ro-after; cat /ro-after"));
    report.put(
        "dev-after",
        exec(
            "dev-1",
            "cat /dev-written; "
                + MULTI_LAYER_SCRIPT
                + "; echo dev-after > /dev-after; sync; cat /dev-after"));
  }

  /** Removes the containers, then the image: every device goes with its last snapshot. */
  private void cleanup() throws Exception {
    Map<Long, String> before = attachedDevices();
    for (String c : List.of("ro-1", "dev-1")) {
      ctr("tasks", "kill", "-s", "SIGKILL", c);
      awaitCtr(Duration.ofSeconds(60), "tasks", "delete", c);
      ctr("containers", "delete", c);
    }
    // containerd removes the snapshots in its garbage collection, after ctr has returned
    awaitDevices(m -> m.size() < before.size());
    report.put("devices-after-containers", devices());
    ctr("images", "rm", IMAGE);
    awaitDevices(Map::isEmpty);
    report.put("devices-after-image-removal", devices());
    report.put("objects-after-cleanup", TcmuVmGuest.objects());
  }

  private void startSnapshotter() throws IOException {
    snapshotter =
        OverlaySnapshotter.open(
            root,
            false,
            OverlayFeatures.detect(),
            new OverlaySnapshotter.BlockSupport(
                snapshotsDir ->
                    new TcmuAttacher(
                        new OverlayBdStandIn(new HostKernelFiles()), -1, OverlayBdStandIn.HANDLER),
                "ext4",
                root.resolve("record-trace"),
                List.of(),
                false,
                RwMode.OVERLAYFS));
    try {
      server =
          UnixSocketServer.start(
              socket,
              List.of(StrictRequestParsing.apply(new SnapshotsService(snapshotter).bindService())));
    } catch (IOException | RuntimeException e) {
      snapshotter.close();
      snapshotter = null;
      throw e;
    }
  }

  private void stopSnapshotter() throws InterruptedException {
    try {
      if (server != null) {
        server.shutdown(10_000);
      }
    } finally {
      server = null;
      if (snapshotter != null) {
        snapshotter.close();
      }
      snapshotter = null;
    }
  }

  /**
   * Calls the service over its socket a few times before containerd does. Under TCG the first
   * HTTP/2 handshake of a cold JVM takes longer than the about one second containerd's gRPC client
   * allows for a connection ("timed out waiting for server handshake"); on real hardware it does
   * not. Touches no snapshot.
   */
  private void warmUp() {
    for (int i = 0; i < 3; i++) {
      try (UnixSocketChannel ch = UnixSocketChannel.open(socket, 1)) {
        var stub =
            SnapshotsGrpc.newBlockingStub(ch.channel()).withDeadlineAfter(120, TimeUnit.SECONDS);
        stub.list(ListSnapshotsRequest.getDefaultInstance()).forEachRemaining(r -> {});
        try {
          stub.stat(StatSnapshotRequest.newBuilder().setKey("warm-up").build());
        } catch (StatusRuntimeException notFound) {
          // the error path is warmed too
        }
      }
    }
  }

  /** Waits until the reconciliation {@link OverlaySnapshotter#open} starts has done its pass. */
  private void awaitReconciliation() throws InterruptedException {
    long end = System.nanoTime() + RECONCILE_DEADLINE.toNanos();
    while (!snapshotter.devicesReconciled()) {
      if (System.nanoTime() > end) {
        throw new IllegalStateException("reconciliation still running after " + RECONCILE_DEADLINE);
      }
      Thread.sleep(100);
    }
  }

  /** Waits until the attached devices satisfy {@code done}, or {@link #CLEANUP_DEADLINE}. */
  private void awaitDevices(java.util.function.Predicate<Map<Long, String>> done)
      throws AttachException, InterruptedException {
    long end = System.nanoTime() + CLEANUP_DEADLINE.toNanos();
    while (!done.test(attachedDevices()) && System.nanoTime() < end) {
      Thread.sleep(200);
    }
  }

  /** The devices the attacher reports, by snapshot id. */
  private Map<Long, String> attachedDevices() throws AttachException {
    Map<Long, String> out = new TreeMap<>();
    observer.attached(Duration.ofSeconds(10)).forEach((id, a) -> out.put(id, a.device()));
    return out;
  }

  private String devices() throws AttachException {
    return new TreeMap<>(attachedDevices()).toString();
  }

  private String exec(String container, String script) {
    return ctr(
        "tasks", "exec", "--exec-id", "e" + System.nanoTime(), container, "/bin/sh", "-c", script);
  }

  private String ctr(Object... args) {
    String[] a = new String[args.length];
    for (int i = 0; i < args.length; i++) {
      a[i] = args[i].toString();
    }
    return containerd.ctr(NAMESPACE, a).strip();
  }

  /**
   * Repeats a ctr command until it succeeds, returning its output: a task is deleted only once it
   * has stopped, and containerd reaches a restarted snapshotter only after its reconnect backoff.
   */
  private String awaitCtr(Duration deadline, String... args) throws InterruptedException {
    long end = System.nanoTime() + deadline.toNanos();
    while (true) {
      Containerd.Result r = containerd.ctrResult(NAMESPACE, args);
      if (r.exit() == 0) {
        return r.output().strip();
      }
      if (System.nanoTime() > end) {
        throw new IllegalStateException(
            "ctr " + String.join(" ", args) + " still fails after " + deadline + ": " + r.output());
      }
      Thread.sleep(200);
    }
  }

  /**
   * containerd with obd-snapshotter as the proxy plugin "overlaybd", state on the guest's tmpfs,
   * without CRI (no kubelet here), collecting garbage right after each deletion.
   */
  private String containerdConfig() {
    Path dir = WORK.resolve("containerd");
    return """
        version = 2
        root = "%1$s/root"
        state = "%1$s/state"
        disabled_plugins = ["io.containerd.grpc.v1.cri"]
        [grpc]
          address = "%1$s/containerd.sock"
        [ttrpc]
          address = "%1$s/containerd.sock.ttrpc"
        [proxy_plugins]
          [proxy_plugins.overlaybd]
            type = "snapshot"
            address = "%2$s"
        [plugins]
          [plugins."io.containerd.gc.v1.scheduler"]
            deletion_threshold = 1
        """
        .formatted(dir, socket);
  }

  private static String millisSince(long t0) {
    return Long.toString((System.nanoTime() - t0) / 1_000_000);
  }
}
