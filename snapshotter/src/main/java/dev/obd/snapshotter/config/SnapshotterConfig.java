package dev.obd.snapshotter.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The daemon's configuration, with the keys and defaults of the Go overlaybd-snapshotter's {@code
 * config.json} so that a file written for it starts this daemon unchanged. Immutable; built and
 * validated once by {@link ConfigLoader}.
 *
 * @param root directory holding snapshots and metadata
 * @param address path of the gRPC unix socket
 * @param verbose log level, in logrus names (trace, debug, info, warn, error, fatal, panic)
 * @param logReportCaller add the logging class to each log line
 * @param rwMode default writable mode of containers on OverlayBD images
 * @param autoRemoveDev detach an image's device when its last container is removed
 * @param asyncRemove leave deleting directories of removed snapshots to Cleanup
 * @param writableLayerType {@code append} or {@code sparse} writable OverlayBD layers
 * @param exporter the Prometheus endpoint
 * @param mirrorRegistry registries whose blob URLs use plain http when marked insecure
 * @param defaultFsType filesystem of OverlayBD layers without a {@code blob-fs-type} label
 * @param rootfsQuota project quota for container root filesystems, e.g. {@code 20g}; "" for none
 * @param tenant namespaces TCMU object names so that several instances can share a host; -1 none
 * @param turboFsType preference order of TurboOCI filesystem metadata
 * @param runtimeType {@code containerd} or {@code docker}
 * @param attacher how OverlayBD devices are attached: {@code tcmu} (upstream's overlaybd-tcmu),
 *     {@code nbd} (obd-backstore) or {@code auto} (tcmu when configfs and overlaybd-tcmu are there,
 *     else nbd); ours, not upstream's
 * @param backstoreAddress the control socket of obd-backstore, for the nbd attacher; ours
 * @param recordTraceDir the directory record-trace files must be in, or null for {@code
 *     <root>/record-trace} (see {@link #traceDirectory}); ours
 * @param remoteAccessCheck what the Prepare of a lazy OverlayBD layer does when obd-backstore
 *     cannot read its blob (nbd attacher only); ours
 * @param criImageService the CRI image proxy that keeps kubelet's pull credentials for lazy reads;
 *     ours
 */
public record SnapshotterConfig(
    Path root,
    Path address,
    String verbose,
    boolean logReportCaller,
    RwMode rwMode,
    boolean autoRemoveDev,
    boolean asyncRemove,
    String writableLayerType,
    Exporter exporter,
    List<MirrorRegistry> mirrorRegistry,
    String defaultFsType,
    String rootfsQuota,
    int tenant,
    List<String> turboFsType,
    String runtimeType,
    String attacher,
    Path backstoreAddress,
    Path recordTraceDir,
    RemoteAccessCheck remoteAccessCheck,
    CriImageService criImageService) {

  public static final Path DEFAULT_PATH = Path.of("/etc/overlaybd-snapshotter/config.json");
  public static final Path DEFAULT_ROOT =
      Path.of("/var/lib/containerd/io.containerd.snapshotter.v1.overlaybd");
  public static final Path DEFAULT_ADDRESS = Path.of("/run/overlaybd-snapshotter/overlaybd.sock");
  public static final Path DEFAULT_BACKSTORE_ADDRESS = Path.of("/run/obd-backstore/backstore.sock");

  /** Where record-trace files are, relative to the root, unless {@code recordTraceDir} says. */
  public static final String DEFAULT_RECORD_TRACE_DIR = "record-trace";

  /** Writable mode of a container's root filesystem on an OverlayBD image. */
  public enum RwMode {
    /** overlayfs on the image's shared read-only device (upstream's default). */
    OVERLAYFS("overlayfs"),
    /** a writable OverlayBD device per container, mounted by the snapshotter. */
    DIR("dir"),
    /** a writable OverlayBD device per container, handed to the caller unmounted. */
    DEV("dev");

    private final String json;

    RwMode(String json) {
      this.json = json;
    }

    public String json() {
      return json;
    }
  }

  /**
   * What the Prepare of a lazy OverlayBD layer does after asking obd-backstore whether it can read
   * the layer's blob with its credentials, before answering ALREADY_EXISTS.
   */
  public enum RemoteAccessCheck {
    /**
     * A refused or missing blob fails the Prepare, so the pull fails with the registry's answer.
     */
    FAIL("fail"),
    /** A refused or missing blob is downloaded whole by containerd, as an ordinary layer. */
    DOWNLOAD("download"),
    /** No check: the layer is lazy whatever the backstore can read (a refusal shows at read). */
    OFF("off");

    private final String json;

    RemoteAccessCheck(String json) {
      this.json = json;
    }

    public String json() {
      return json;
    }

    /** The mode named {@code json} in the configuration file. */
    public static RemoteAccessCheck fromJson(String json) {
      for (RemoteAccessCheck m : values()) {
        if (m.json.equals(json)) {
          return m;
        }
      }
      throw new IllegalArgumentException("no remoteAccessCheck mode " + json);
    }
  }

  /** {@code exporterConfig}; {@code host} is ours: upstream listens on every interface. */
  public record Exporter(boolean enable, String uriPrefix, int port, String host) {
    public static final Exporter DEFAULT = new Exporter(false, "/metrics", 9863, "127.0.0.1");
  }

  /**
   * {@code criImageService}: a CRI ImageService on {@code address} that kubelet uses as its image
   * endpoint; every call is forwarded to containerd's CRI at {@code containerdAddress}, and the
   * credentials of each PullImage are kept in memory for {@code credentialTtl} (at most {@code
   * maxCredentials} repositories) and handed to obd-backstore, so that it can read the image's
   * layers lazily. Off by default.
   */
  public record CriImageService(
      boolean enable,
      Path address,
      Path containerdAddress,
      java.time.Duration credentialTtl,
      int maxCredentials) {
    public static final Path DEFAULT_ADDRESS = Path.of("/run/overlaybd-snapshotter/cri-image.sock");
    public static final Path DEFAULT_CONTAINERD_ADDRESS =
        Path.of("/run/containerd/containerd.sock");

    /**
     * A week: kubelet sends no PullImage while a container runs (only when a pod starts and the
     * image is missing, or with imagePullPolicy Always), yet the container's reads that miss the
     * cache need the credentials as long as it runs.
     */
    public static final java.time.Duration DEFAULT_CREDENTIAL_TTL = java.time.Duration.ofDays(7);

    public static final int DEFAULT_MAX_CREDENTIALS = 1024;

    public static final CriImageService DEFAULT =
        new CriImageService(
            false,
            DEFAULT_ADDRESS,
            DEFAULT_CONTAINERD_ADDRESS,
            DEFAULT_CREDENTIAL_TTL,
            DEFAULT_MAX_CREDENTIALS);

    public CriImageService {
      Objects.requireNonNull(address, "address");
      Objects.requireNonNull(containerdAddress, "containerdAddress");
      Objects.requireNonNull(credentialTtl, "credentialTtl");
    }
  }

  public record MirrorRegistry(String host, boolean insecure) {
    public MirrorRegistry {
      Objects.requireNonNull(host, "host");
    }
  }

  public SnapshotterConfig {
    Objects.requireNonNull(root, "root");
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(remoteAccessCheck, "remoteAccessCheck");
    Objects.requireNonNull(criImageService, "criImageService");
    mirrorRegistry = List.copyOf(mirrorRegistry);
    turboFsType = List.copyOf(turboFsType);
  }

  /** The configuration used when no file exists at the default path. */
  public static SnapshotterConfig defaults() {
    return builder().build();
  }

  /** A builder holding the defaults, for a configuration that differs from them in a few keys. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this configuration. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /**
   * The directory the {@code record-trace-path} label's file must be in: {@code recordTraceDir}, or
   * {@code record-trace} below the root (also when the root came from {@code --root}).
   */
  public Path traceDirectory() {
    return recordTraceDir != null ? recordTraceDir : root.resolve(DEFAULT_RECORD_TRACE_DIR);
  }

  public SnapshotterConfig withRoot(Path newRoot) {
    return toBuilder().root(newRoot).build();
  }

  public SnapshotterConfig withAddress(Path newAddress) {
    return toBuilder().address(newAddress).build();
  }

  public SnapshotterConfig withVerbose(String level) {
    return toBuilder().verbose(level).build();
  }

  /** Builds a {@link SnapshotterConfig} key by key; starts from the defaults. Not thread-safe. */
  public static final class Builder {
    private Path root = DEFAULT_ROOT;
    private Path address = DEFAULT_ADDRESS;
    private String verbose = "info";
    private boolean logReportCaller;
    private RwMode rwMode = RwMode.OVERLAYFS;
    private boolean autoRemoveDev;
    private boolean asyncRemove;
    private String writableLayerType = "append";
    private Exporter exporter = Exporter.DEFAULT;
    private List<MirrorRegistry> mirrorRegistry = List.of();
    private String defaultFsType = "ext4";
    private String rootfsQuota = "";
    private int tenant = -1;
    private List<String> turboFsType = List.of("erofs", "ext4");
    private String runtimeType = "containerd";
    private String attacher = "auto";
    private Path backstoreAddress = DEFAULT_BACKSTORE_ADDRESS;
    private Path recordTraceDir;
    private RemoteAccessCheck remoteAccessCheck = RemoteAccessCheck.FAIL;
    private CriImageService criImageService = CriImageService.DEFAULT;

    private Builder() {}

    private Builder(SnapshotterConfig c) {
      root = c.root;
      address = c.address;
      verbose = c.verbose;
      logReportCaller = c.logReportCaller;
      rwMode = c.rwMode;
      autoRemoveDev = c.autoRemoveDev;
      asyncRemove = c.asyncRemove;
      writableLayerType = c.writableLayerType;
      exporter = c.exporter;
      mirrorRegistry = c.mirrorRegistry;
      defaultFsType = c.defaultFsType;
      rootfsQuota = c.rootfsQuota;
      tenant = c.tenant;
      turboFsType = c.turboFsType;
      runtimeType = c.runtimeType;
      attacher = c.attacher;
      backstoreAddress = c.backstoreAddress;
      recordTraceDir = c.recordTraceDir;
      remoteAccessCheck = c.remoteAccessCheck;
      criImageService = c.criImageService;
    }

    public Builder root(Path value) {
      root = value;
      return this;
    }

    public Builder address(Path value) {
      address = value;
      return this;
    }

    public Builder verbose(String value) {
      verbose = value;
      return this;
    }

    public Builder logReportCaller(boolean value) {
      logReportCaller = value;
      return this;
    }

    public Builder rwMode(RwMode value) {
      rwMode = value;
      return this;
    }

    public Builder autoRemoveDev(boolean value) {
      autoRemoveDev = value;
      return this;
    }

    public Builder asyncRemove(boolean value) {
      asyncRemove = value;
      return this;
    }

    public Builder writableLayerType(String value) {
      writableLayerType = value;
      return this;
    }

    public Builder exporter(Exporter value) {
      exporter = value;
      return this;
    }

    public Builder mirrorRegistry(List<MirrorRegistry> value) {
      mirrorRegistry = value;
      return this;
    }

    public Builder defaultFsType(String value) {
      defaultFsType = value;
      return this;
    }

    public Builder rootfsQuota(String value) {
      rootfsQuota = value;
      return this;
    }

    public Builder tenant(int value) {
      tenant = value;
      return this;
    }

    public Builder turboFsType(List<String> value) {
      turboFsType = value;
      return this;
    }

    public Builder runtimeType(String value) {
      runtimeType = value;
      return this;
    }

    public Builder attacher(String value) {
      attacher = value;
      return this;
    }

    public Builder backstoreAddress(Path value) {
      backstoreAddress = value;
      return this;
    }

    /** {@code null} for {@code <root>/record-trace}. */
    public Builder recordTraceDir(Path value) {
      recordTraceDir = value;
      return this;
    }

    public Builder remoteAccessCheck(RemoteAccessCheck value) {
      remoteAccessCheck = value;
      return this;
    }

    public Builder criImageService(CriImageService value) {
      criImageService = value;
      return this;
    }

    public SnapshotterConfig build() {
      return new SnapshotterConfig(
          root,
          address,
          verbose,
          logReportCaller,
          rwMode,
          autoRemoveDev,
          asyncRemove,
          writableLayerType,
          exporter,
          mirrorRegistry,
          defaultFsType,
          rootfsQuota,
          tenant,
          turboFsType,
          runtimeType,
          attacher,
          backstoreAddress,
          recordTraceDir,
          remoteAccessCheck,
          criImageService);
    }
  }
}
