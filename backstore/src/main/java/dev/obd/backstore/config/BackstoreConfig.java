package dev.obd.backstore.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import dev.obd.configfile.BoundedJsonFile;
import dev.obd.configfile.UnknownKeys;
import dev.obd.daemonsupport.Logging;
import dev.obd.registry.CredentialSettings;
import dev.obd.registry.RegistrySettings;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon's configuration file ({@code /etc/obd/backstore.json}), parsed and validated once at
 * start. Keys follow upstream's {@code overlaybd.json} where the meaning is the same ({@code
 * cacheConfig}, {@code credentialFilePath}, {@code credentialConfig}, {@code p2pConfig}, {@code
 * download}, {@code prefetchConfig}); the rest are ours. Every key is optional; see {@link
 * #describeKeys()}. As in obd-snapshotter, a key this daemon does not know is a warning (it may
 * belong to a newer version) and a known key with a bad value, a log level among them, is an error
 * naming the file.
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record BackstoreConfig(
    @JsonProperty("socket") String socket,
    @JsonProperty("stateDir") String stateDir,
    @JsonProperty("runDir") String runDir,
    @JsonProperty("attachMode") String attachMode,
    @JsonProperty("blockSize") Integer blockSize,
    @JsonProperty("ioThreads") Integer ioThreads,
    @JsonProperty("logLevel") String logLevel,
    @JsonProperty("cacheConfig") CacheConfig cacheConfig,
    @JsonProperty("credentialFilePath") String credentialFilePath,
    @JsonProperty("dockerConfigPath") String dockerConfigPath,
    @JsonProperty("credentialConfig") CredentialConfig credentialConfig,
    @JsonProperty("timeouts") Timeouts timeouts,
    @JsonProperty("mirrors") List<Mirror> mirrors,
    @JsonProperty("p2pConfig") P2pConfig p2pConfig,
    @JsonProperty("download") DownloadConfig download,
    @JsonProperty("prefetchConfig") PrefetchConfig prefetchConfig) {

  public static final Path DEFAULT_PATH = Path.of("/etc/obd/backstore.json");

  /** Our file nests four levels deep; docker's config.json, read with the same limits, five. */
  private static final ObjectMapper JSON = BoundedJsonFile.mapper(BoundedJsonFile.MAX_DEPTH);

  /** A configuration read from a file, and the warnings to log once logging is set up. */
  public record Loaded(BackstoreConfig config, List<String> warnings) {
    public Loaded {
      warnings = List.copyOf(warnings);
    }
  }

  public BackstoreConfig {
    socket = or(socket, "/run/obd-backstore/backstore.sock");
    stateDir = or(stateDir, "/var/lib/obd-backstore");
    runDir = or(runDir, "/run/obd-backstore");
    attachMode = or(attachMode, "auto");
    blockSize = blockSize == null ? 4096 : blockSize;
    ioThreads = ioThreads == null ? 32 : ioThreads;
    try {
      logLevel = Logging.checkLevel(or(logLevel, "info"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("logLevel " + e.getMessage(), e);
    }
    cacheConfig = cacheConfig == null ? new CacheConfig(null, null, null) : cacheConfig;
    credentialFilePath = or(credentialFilePath, "/opt/overlaybd/cred.json");
    dockerConfigPath = or(dockerConfigPath, "/root/.docker/config.json");
    credentialConfig =
        credentialConfig == null
            ? new CredentialConfig(null, null, null, null, null, null)
            : credentialConfig;
    timeouts = timeouts == null ? new Timeouts(null, null, null, null, null) : timeouts;
    mirrors = mirrors == null ? List.of() : List.copyOf(mirrors);
    p2pConfig = p2pConfig == null ? new P2pConfig(false, null) : p2pConfig;
    download = download == null ? DownloadConfig.DEFAULT : download;
    prefetchConfig = prefetchConfig == null ? new PrefetchConfig(null) : prefetchConfig;
    if (!List.of("auto", "nbd", "fuse").contains(attachMode)) {
      throw new IllegalArgumentException("attachMode must be auto, nbd or fuse, not " + attachMode);
    }
    if (blockSize != 512 && blockSize != 4096) {
      throw new IllegalArgumentException("blockSize must be 512 or 4096, not " + blockSize);
    }
    if (ioThreads < 1 || ioThreads > 1024) {
      throw new IllegalArgumentException("ioThreads must be 1..1024, not " + ioThreads);
    }
  }

  /** All defaults. */
  public static BackstoreConfig defaults() {
    return builder().build();
  }

  /** A builder with every key unset, which means its default (the file's absent key). */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder holding this configuration's values, to change some of them. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** As {@link #load}, without the warnings. */
  public static BackstoreConfig read(Path file) throws BackstoreConfigException {
    return load(file).config();
  }

  /**
   * Reads {@code file}; a missing file at the default path means all defaults. Only a regular file
   * of at most 1 MiB is read, JSON nested deeper than 64 levels is refused. Unknown keys are
   * ignored, each with a warning naming its path.
   *
   * @throws BackstoreConfigException naming the file and the problem on one line
   */
  public static Loaded load(Path file) throws BackstoreConfigException {
    String where = "backstore config " + file;
    byte[] bytes;
    try {
      bytes = BoundedJsonFile.read(file);
    } catch (NoSuchFileException e) {
      if (file.equals(DEFAULT_PATH)) {
        return new Loaded(defaults(), List.of());
      }
      throw new BackstoreConfigException(where + " does not exist", e);
    } catch (BoundedJsonFile.Problem e) {
      throw new BackstoreConfigException("backstore config " + e.getMessage(), e);
    } catch (IOException e) {
      throw new BackstoreConfigException(where + ": cannot be read: " + e.getMessage(), e);
    }
    try {
      // the whole tree first, so the nesting limit applies before any mapping error
      JsonNode tree = JSON.readTree(bytes);
      if (tree == null || !tree.isObject()) {
        throw new BackstoreConfigException(
            where
                + ": must be a JSON object, not "
                + (tree == null || tree.isMissingNode() ? "an empty file" : tree.getNodeType()),
            null);
      }
      UnknownKeys unknown = new UnknownKeys(where);
      BackstoreConfig config =
          JSON.readerFor(BackstoreConfig.class).withHandler(warningAbout(unknown)).readValue(tree);
      return new Loaded(config, unknown.warnings());
    } catch (BackstoreConfigException e) {
      throw e;
    } catch (ValueInstantiationException e) {
      Throwable c = e.getCause() != null ? e.getCause() : e;
      throw new BackstoreConfigException(where + ": " + oneLine(c.getMessage()), e);
    } catch (StreamConstraintsException e) {
      throw new BackstoreConfigException(
          where + ": " + BoundedJsonFile.describeWithoutContent(e, BoundedJsonFile.MAX_DEPTH), e);
    } catch (JsonParseException e) {
      throw new BackstoreConfigException(
          where
              + ": "
              + BoundedJsonFile.describeWithoutContent(e, BoundedJsonFile.MAX_DEPTH)
              + ": "
              + oneLine(e.getOriginalMessage()),
          e);
    } catch (JacksonException e) {
      throw new BackstoreConfigException(where + ": " + oneLine(e.getOriginalMessage()), e);
    } catch (IOException e) {
      throw new BackstoreConfigException(where + ": " + oneLine(e.getMessage()), e);
    }
  }

  private static String oneLine(String message) {
    return BoundedJsonFile.oneLine(message, 300);
  }

  /** Skips an unknown key's value and notes its path ({@code cacheConfig.cachedir}). */
  private static DeserializationProblemHandler warningAbout(UnknownKeys unknown) {
    return new DeserializationProblemHandler() {
      @Override
      public boolean handleUnknownProperty(
          DeserializationContext context,
          JsonParser p,
          JsonDeserializer<?> deserializer,
          Object beanOrClass,
          String name)
          throws IOException {
        JsonStreamContext at = p.getParsingContext();
        if (p.currentToken() != null && p.currentToken().isStructStart()) {
          at = at.getParent(); // the value's own object or array: the key stands one above
        }
        unknown.add(BoundedJsonFile.oneLine(path(at, name), 200));
        p.skipChildren();
        return true;
      }
    };
  }

  /** {@code a.b[0].name}: where {@code name} stands in the document. */
  private static String path(JsonStreamContext at, String name) {
    List<String> parts = new ArrayList<>();
    parts.add(name);
    for (JsonStreamContext c = at.getParent(); c != null && !c.inRoot(); c = c.getParent()) {
      if (c.inArray()) {
        parts.add(0, "[" + c.getCurrentIndex() + "]");
      } else if (c.getCurrentName() != null) {
        parts.add(0, c.getCurrentName());
      }
    }
    StringBuilder sb = new StringBuilder();
    for (String part : parts) {
      if (sb.length() > 0 && !part.startsWith("[")) {
        sb.append('.');
      }
      sb.append(part);
    }
    return sb.toString();
  }

  /** The registry side of the settings. */
  public RegistrySettings registrySettings() {
    return new RegistrySettings(
        Path.of(credentialFilePath),
        Path.of(dockerConfigPath),
        Duration.ofMillis(timeouts.connectMs()),
        Duration.ofMillis(timeouts.requestMs()),
        Duration.ofMillis(timeouts.readDeadlineMs()),
        mirrors.stream().map(m -> new RegistrySettings.Mirror(m.host(), m.endpoint())).toList(),
        p2pConfig.enable() ? p2pConfig.address() : "");
  }

  /**
   * Where registry credentials come from: {@code credentialConfig}, or with its mode {@code ""} the
   * legacy {@code credentialFilePath}; then {@code dockerConfigPath}.
   */
  public CredentialSettings credentialSettings() {
    CredentialConfig c = credentialConfig;
    return new CredentialSettings(
        CredentialSettings.Mode.parse(c.mode()),
        c.path(),
        Duration.ofMillis((long) (c.timeout() * 1000)),
        pathOrNull(c.clientCertPath()),
        pathOrNull(c.clientKeyPath()),
        pathOrNull(c.serverCaPath()),
        Path.of(credentialFilePath),
        Path.of(dockerConfigPath));
  }

  private static Path pathOrNull(String p) {
    return p.isEmpty() ? null : Path.of(p);
  }

  /** The text of {@code --help} that documents every key. */
  public static String describeKeys() {
    return String.join(
        "\n",
        "Config file keys (JSON object; every key optional):",
        "  socket              control API unix socket [/run/obd-backstore/backstore.sock]",
        "  stateDir            device records kept across restarts [/var/lib/obd-backstore]",
        "  runDir              per-device NBD sockets and FUSE mount points [/run/obd-backstore]",
        "  attachMode          auto | nbd (kernel /dev/nbdN via netlink) | fuse (nbdfuse + loop) [auto]",
        "  blockSize           512 or 4096, the block size announced to NBD clients [4096]",
        "  ioThreads           disk requests served at once, all devices together [32]",
        "  logLevel            trace | debug | info | warn | error (or warning, fatal, panic) [info]",
        "  cacheConfig         {cacheDir [/var/cache/obd-backstore], cacheSizeGB [4], refillSize [262144]}",
        "                      persistent cache of registry ranges, LRU-evicted beyond cacheSizeGB",
        "  credentialFilePath  upstream cred.json {\"auths\":{host[/repo]:{auth|username,password}}}",
        "                      [/opt/overlaybd/cred.json]",
        "  credentialConfig    {mode, path, timeout [1] (seconds), client_cert_path, client_key_path,",
        "                       server_ca_path}: upstream's credential source. mode \"\" [default]:",
        "                       credentialFilePath; file: the cred.json at path; http/https: GET",
        "                       path?remote_url=<blob url> of an auth server (https: client cert and",
        "                       key for mutual TLS, server_ca_path the CAs to trust); uds: the same",
        "                       as http://localhost/auth?remote_url=... on unix socket path",
        "  dockerConfigPath    docker config.json, used after the above: auths, credHelpers and",
        "                      credsStore (docker-credential-<name> get) [/root/.docker/config.json]",
        "  timeouts            {connectMs [5000], requestMs [30000] (one HTTP attempt),",
        "                       readDeadlineMs [60000] (a read retries until then, then fails with EIO),",
        "                       attachMs [60000] (add device), deadConnectionSec [3600] (kernel nbd waits",
        "                       this long for the backstore to come back after a crash)}",
        "  mirrors             [{host, endpoint}]: blobs of host are tried at endpoint first",
        "  p2pConfig           {enable [false], address [http://localhost:9731/accelerator]}: every",
        "                      fetch URL becomes address + \"/\" + url, as upstream's p2pConfig",
        "  download            {enable [false], delay [300], delayExtra [30], maxMBps [100], tryCnt [5],",
        "                       blockSize [262144]}: background full download of remote layers",
        "  prefetchConfig      {concurrency [16]}: threads replaying a trace");
  }

  private static String or(String v, String d) {
    return v == null || v.isEmpty() ? d : v;
  }

  /** The registry range cache. */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record CacheConfig(
      @JsonProperty("cacheDir") String cacheDir,
      @JsonProperty("cacheSizeGB") Double cacheSizeGB,
      @JsonProperty("refillSize") Integer refillSize) {
    public CacheConfig {
      cacheDir = or(cacheDir, "/var/cache/obd-backstore");
      cacheSizeGB = cacheSizeGB == null ? 4.0 : cacheSizeGB;
      refillSize = refillSize == null ? 262144 : refillSize;
      if (cacheSizeGB <= 0) {
        throw new IllegalArgumentException("cacheSizeGB must be positive");
      }
      if (refillSize < 4096 || refillSize > 64 << 20 || Integer.bitCount(refillSize) != 1) {
        throw new IllegalArgumentException(
            "refillSize must be a power of two between 4 KiB and 64 MiB, not " + refillSize);
      }
    }

    public long cacheSizeBytes() {
      return (long) (cacheSizeGB * (1L << 30));
    }

    /** This cache in directory {@code dir}. */
    public CacheConfig withCacheDir(String dir) {
      return new CacheConfig(dir, cacheSizeGB, refillSize);
    }
  }

  /** Deadlines; every wait of the daemon has one. */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record Timeouts(
      @JsonProperty("connectMs") Long connectMs,
      @JsonProperty("requestMs") Long requestMs,
      @JsonProperty("readDeadlineMs") Long readDeadlineMs,
      @JsonProperty("attachMs") Long attachMs,
      @JsonProperty("deadConnectionSec") Long deadConnectionSec) {
    public Timeouts {
      connectMs = connectMs == null ? 5000 : connectMs;
      requestMs = requestMs == null ? 30000 : requestMs;
      readDeadlineMs = readDeadlineMs == null ? 60000 : readDeadlineMs;
      attachMs = attachMs == null ? 60000 : attachMs;
      deadConnectionSec = deadConnectionSec == null ? 3600 : deadConnectionSec;
      if (connectMs <= 0 || requestMs <= 0 || readDeadlineMs <= 0 || attachMs <= 0) {
        throw new IllegalArgumentException("timeouts must be positive");
      }
      if (deadConnectionSec < 0) {
        throw new IllegalArgumentException("deadConnectionSec must not be negative");
      }
    }
  }

  /** A registry mirror: requests for {@code host} go to {@code endpoint} first. */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record Mirror(
      @JsonProperty("host") String host, @JsonProperty("endpoint") String endpoint) {
    public Mirror {
      if (host == null || host.isEmpty() || endpoint == null || !endpoint.matches("https?://.+")) {
        throw new IllegalArgumentException(
            "a mirror needs a host and an http(s) endpoint: " + host + " -> " + endpoint);
      }
    }
  }

  /** Upstream's P2P proxy prefix. */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record P2pConfig(
      @JsonProperty("enable") boolean enable, @JsonProperty("address") String address) {
    public P2pConfig {
      address = or(address, "http://localhost:9731/accelerator");
    }
  }

  /**
   * Upstream's {@code credentialConfig}, with its keys. Values are checked here ({@link
   * CredentialSettings} says what each mode needs); certificate files are read at start.
   */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record CredentialConfig(
      @JsonProperty("mode") String mode,
      @JsonProperty("path") String path,
      @JsonProperty("timeout") Double timeout,
      @JsonProperty("client_cert_path") String clientCertPath,
      @JsonProperty("client_key_path") String clientKeyPath,
      @JsonProperty("server_ca_path") String serverCaPath) {
    public CredentialConfig {
      mode = CredentialSettings.Mode.parse(mode).key();
      path = path == null ? "" : path;
      timeout = timeout == null ? 1.0 : timeout;
      clientCertPath = clientCertPath == null ? "" : clientCertPath;
      clientKeyPath = clientKeyPath == null ? "" : clientKeyPath;
      serverCaPath = serverCaPath == null ? "" : serverCaPath;
      if (!(timeout > 0) || timeout > 3600) {
        throw new IllegalArgumentException(
            "credentialConfig.timeout must be more than 0 and at most 3600 seconds, not "
                + timeout);
      }
      // the mode's own rules (a path of the right kind, cert and key together)
      new CredentialSettings(
          CredentialSettings.Mode.parse(mode),
          path,
          Duration.ofMillis(Math.max(1, (long) (timeout * 1000))),
          clientCertPath.isEmpty() ? null : Path.of(clientCertPath),
          clientKeyPath.isEmpty() ? null : Path.of(clientKeyPath),
          null,
          Path.of("/"),
          Path.of("/"));
    }
  }

  /** Trace replay. */
  @JsonIgnoreProperties(ignoreUnknown = false)
  public record PrefetchConfig(@JsonProperty("concurrency") Integer concurrency) {
    public PrefetchConfig {
      concurrency = concurrency == null ? 16 : concurrency;
      if (concurrency < 1 || concurrency > 256) {
        throw new IllegalArgumentException("prefetchConfig.concurrency must be 1..256");
      }
    }
  }

  /**
   * Builds a {@link BackstoreConfig} key by key. A key left unset (or set to {@code null}) takes
   * its default, which the record's constructor alone knows, as for a key absent from the file;
   * {@link #build} validates as reading a file does. Not thread-safe.
   */
  public static final class Builder {
    private String socket;
    private String stateDir;
    private String runDir;
    private String attachMode;
    private Integer blockSize;
    private Integer ioThreads;
    private String logLevel;
    private CacheConfig cacheConfig;
    private String credentialFilePath;
    private String dockerConfigPath;
    private CredentialConfig credentialConfig;
    private Timeouts timeouts;
    private List<Mirror> mirrors;
    private P2pConfig p2pConfig;
    private DownloadConfig download;
    private PrefetchConfig prefetchConfig;

    private Builder() {}

    private Builder(BackstoreConfig c) {
      socket = c.socket;
      stateDir = c.stateDir;
      runDir = c.runDir;
      attachMode = c.attachMode;
      blockSize = c.blockSize;
      ioThreads = c.ioThreads;
      logLevel = c.logLevel;
      cacheConfig = c.cacheConfig;
      credentialFilePath = c.credentialFilePath;
      dockerConfigPath = c.dockerConfigPath;
      credentialConfig = c.credentialConfig;
      timeouts = c.timeouts;
      mirrors = c.mirrors;
      p2pConfig = c.p2pConfig;
      download = c.download;
      prefetchConfig = c.prefetchConfig;
    }

    public Builder socket(String value) {
      socket = value;
      return this;
    }

    public Builder stateDir(String value) {
      stateDir = value;
      return this;
    }

    public Builder runDir(String value) {
      runDir = value;
      return this;
    }

    public Builder attachMode(String value) {
      attachMode = value;
      return this;
    }

    public Builder blockSize(Integer value) {
      blockSize = value;
      return this;
    }

    public Builder ioThreads(Integer value) {
      ioThreads = value;
      return this;
    }

    public Builder logLevel(String value) {
      logLevel = value;
      return this;
    }

    public Builder cacheConfig(CacheConfig value) {
      cacheConfig = value;
      return this;
    }

    public Builder credentialFilePath(String value) {
      credentialFilePath = value;
      return this;
    }

    public Builder dockerConfigPath(String value) {
      dockerConfigPath = value;
      return this;
    }

    public Builder credentialConfig(CredentialConfig value) {
      credentialConfig = value;
      return this;
    }

    public Builder timeouts(Timeouts value) {
      timeouts = value;
      return this;
    }

    public Builder mirrors(List<Mirror> value) {
      mirrors = value;
      return this;
    }

    public Builder p2pConfig(P2pConfig value) {
      p2pConfig = value;
      return this;
    }

    public Builder download(DownloadConfig value) {
      download = value;
      return this;
    }

    public Builder prefetchConfig(PrefetchConfig value) {
      prefetchConfig = value;
      return this;
    }

    /**
     * The configuration.
     *
     * @throws IllegalArgumentException naming the first key with a bad value
     */
    public BackstoreConfig build() {
      return new BackstoreConfig(
          socket,
          stateDir,
          runDir,
          attachMode,
          blockSize,
          ioThreads,
          logLevel,
          cacheConfig,
          credentialFilePath,
          dockerConfigPath,
          credentialConfig,
          timeouts,
          mirrors,
          p2pConfig,
          download,
          prefetchConfig);
    }
  }
}
