package dev.obd.snapshotter.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.configfile.BoundedJsonFile;
import dev.obd.configfile.UnknownKeys;
import dev.obd.daemonsupport.Logging;
import dev.obd.snapshotter.config.SnapshotterConfig.CriImageService;
import dev.obd.snapshotter.config.SnapshotterConfig.Exporter;
import dev.obd.snapshotter.config.SnapshotterConfig.MirrorRegistry;
import dev.obd.snapshotter.config.SnapshotterConfig.RwMode;
import dev.obd.snapshotter.errdefs.Excerpt;
import dev.obd.snapshotter.overlaybd.BlobFsType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads the daemon's JSON configuration. Keys and defaults are upstream's; a key this daemon does
 * not know is reported as a warning (it may belong to a newer upstream), while a known key with a
 * value of the wrong type or outside its range is an error naming that key. The file is read only
 * when it is a regular file of at most {@link #MAX_BYTES} bytes nesting at most {@link #MAX_DEPTH}
 * levels, so that no file (a FIFO, {@code /dev/zero}, 50 MB of JSON) can hang the start or exhaust
 * memory; every failure is one line naming the file.
 */
public final class ConfigLoader {

  /** A loaded configuration, the file it came from (none: embedded defaults), and warnings. */
  public record Loaded(SnapshotterConfig config, Path source, List<String> warnings) {}

  /** logrus level names, which upstream's {@code verbose} key takes (obd-backstore's too). */
  public static final Set<String> LOG_LEVELS = Logging.LEVEL_NAMES;

  /** Largest configuration file read; upstream's takes a few hundred bytes. */
  public static final int MAX_BYTES = BoundedJsonFile.MAX_BYTES;

  /** Deepest JSON nesting read; the configuration itself nests three levels. */
  static final int MAX_DEPTH = 32;

  /** Unknown keys reported one by one; beyond these, only their number. */
  static final int MAX_UNKNOWN_KEY_WARNINGS = UnknownKeys.MAX_WARNINGS;

  private static final ObjectMapper JSON = BoundedJsonFile.mapper(MAX_DEPTH);
  private static final Pattern QUOTA = Pattern.compile("^(\\d+[kKmMgGtT]?)?$");
  private static final Pattern FS_TYPE = Pattern.compile("^[a-z0-9][a-z0-9._-]*$");
  private static final int SUN_PATH_MAX = 107;

  /** The longest {@code criImageService.credentialTtlSec}: a year. */
  static final int MAX_CREDENTIAL_TTL_SEC = 366 * 24 * 3600;

  /** The most {@code criImageService.maxCredentials}. */
  static final int MAX_CREDENTIALS = 65_536;

  private ConfigLoader() {}

  /**
   * Loads {@code path}, or the default path when {@code path} is null. A missing file is an error
   * when it was named explicitly; at the default path it means "use the embedded defaults".
   */
  public static Loaded load(Path path) {
    Path file = path == null ? SnapshotterConfig.DEFAULT_PATH : path;
    byte[] bytes;
    try {
      bytes = BoundedJsonFile.read(file, MAX_BYTES);
    } catch (NoSuchFileException e) {
      if (path == null) {
        return new Loaded(SnapshotterConfig.defaults(), null, List.of());
      }
      throw new ConfigException("config " + file + ": file does not exist");
    } catch (BoundedJsonFile.Problem e) {
      throw new ConfigException("config " + e.getMessage(), e);
    } catch (IOException e) {
      throw new ConfigException("config " + file + ": cannot read: " + e.getMessage(), e);
    }
    return parse(readTree(bytes, file), file);
  }

  /** Parses the text of a configuration file; {@code file} only names it in messages. */
  public static Loaded parse(String text, Path file) {
    return parse(readTree(text.getBytes(StandardCharsets.UTF_8), file), file);
  }

  private static JsonNode readTree(byte[] bytes, Path file) {
    try {
      return JSON.readTree(bytes);
    } catch (JsonProcessingException e) {
      String problem = BoundedJsonFile.describeWithoutContent(e, MAX_DEPTH);
      throw new ConfigException(
          "config "
              + file
              + ": "
              + problem
              + (problem.startsWith("not valid JSON")
                  ? ": " + Excerpt.ofMessage(String.valueOf(e.getOriginalMessage()), 300)
                  : ""),
          e);
    } catch (IOException e) {
      throw new ConfigException("config " + file + ": cannot parse: " + e.getMessage(), e);
    }
  }

  private static Loaded parse(JsonNode parsed, Path file) {
    JsonNode tree = parsed;
    if (tree == null || tree.isMissingNode()) {
      tree = JSON.createObjectNode();
    }
    if (!tree.isObject()) {
      throw new ConfigException("config " + file + ": must be a JSON object");
    }
    Reader r = new Reader(file, (ObjectNode) tree);
    SnapshotterConfig d = SnapshotterConfig.defaults();
    SnapshotterConfig config =
        SnapshotterConfig.builder()
            .root(r.absolutePath("root", d.root()))
            .address(r.absolutePath("address", d.address()))
            .verbose(r.oneOf("verbose", d.verbose(), LOG_LEVELS))
            .logReportCaller(r.bool("logReportCaller", d.logReportCaller()))
            .rwMode(r.rwMode("rwMode", d.rwMode()))
            .autoRemoveDev(r.bool("autoRemoveDev", d.autoRemoveDev()))
            .asyncRemove(r.bool("asyncRemove", d.asyncRemove()))
            .writableLayerType(
                r.oneOf("writableLayerType", d.writableLayerType(), Set.of("append", "sparse")))
            .exporter(r.exporter(d.exporter()))
            .mirrorRegistry(r.mirrors())
            .defaultFsType(r.oneOf("defaultFsType", d.defaultFsType(), BlobFsType.FILESYSTEMS))
            .rootfsQuota(r.matching("rootfsQuota", d.rootfsQuota(), QUOTA, "a size such as 20g"))
            .tenant(r.integer("tenant", d.tenant(), -1, Integer.MAX_VALUE))
            .turboFsType(r.turboFsTypes())
            .runtimeType(r.oneOf("runtimeType", d.runtimeType(), Set.of("containerd", "docker")))
            .attacher(r.oneOf("attacher", d.attacher(), Set.of("auto", "tcmu", "nbd")))
            .backstoreAddress(r.absolutePath("backstoreAddress", d.backstoreAddress()))
            .recordTraceDir(r.absolutePath("recordTraceDir", d.recordTraceDir()))
            .remoteAccessCheck(
                SnapshotterConfig.RemoteAccessCheck.fromJson(
                    r.oneOf(
                        "remoteAccessCheck",
                        d.remoteAccessCheck().json(),
                        Set.of("fail", "download", "off"))))
            .criImageService(r.criImageService(d.criImageService()))
            .build();
    if (config.criImageService().enable()) {
      Path cri = config.criImageService().address();
      if (cri.equals(config.address())
          || cri.equals(config.criImageService().containerdAddress())
          || cri.equals(config.backstoreAddress())) {
        throw new ConfigException(
            "config "
                + file
                + ": key \"criImageService.address\": must differ from the snapshotter's, containerd's"
                + " and obd-backstore's sockets (got \""
                + cri
                + "\")");
      }
    }
    r.warnUnknown(
        "",
        (ObjectNode) tree,
        Set.of(
            "root",
            "address",
            "verbose",
            "logReportCaller",
            "rwMode",
            "autoRemoveDev",
            "asyncRemove",
            "writableLayerType",
            "exporterConfig",
            "mirrorRegistry",
            "defaultFsType",
            "rootfsQuota",
            "tenant",
            "turboFsType",
            "runtimeType",
            "attacher",
            "backstoreAddress",
            "recordTraceDir",
            "remoteAccessCheck",
            "criImageService"));
    List<String> warnings = new ArrayList<>(r.warnings());
    warnings.addAll(unimplemented(config, d, file));
    return new Loaded(config, file, List.copyOf(warnings));
  }

  /**
   * One warning for each key that upstream acts on and this daemon only accepts, when it is set to
   * other than its default: the value is valid, so the daemon starts, but whoever set it should
   * know that nothing happens.
   */
  private static List<String> unimplemented(
      SnapshotterConfig config, SnapshotterConfig defaults, Path file) {
    record Key(String name, Object value, Object defaultValue, String effect) {}
    List<Key> keys =
        List.of(
            new Key(
                "rootfsQuota",
                config.rootfsQuota(),
                defaults.rootfsQuota(),
                "no project quota is set on containers' root filesystems"),
            new Key(
                "runtimeType",
                config.runtimeType(),
                defaults.runtimeType(),
                "Docker's -init layers get no special handling"),
            new Key(
                "turboFsType",
                config.turboFsType(),
                defaults.turboFsType(),
                "TurboOCI images are not supported, so no TurboOCI filesystem metadata is chosen"));
    List<String> warnings = new ArrayList<>();
    for (Key k : keys) {
      if (!k.value().equals(k.defaultValue())) {
        String shown = k.value() instanceof String s ? "\"" + s + "\"" : k.value().toString();
        warnings.add(
            "config "
                + file
                + ": key \""
                + k.name()
                + "\" is "
                + shown
                + ", which has no effect in this snapshotter: "
                + k.effect());
      }
    }
    return warnings;
  }

  /** Checks a socket path given on the command line the same way as one from the file. */
  public static Path checkAddress(String flag, String value) {
    return checkSocketPath("flag " + flag, Path.of(value));
  }

  /** Checks a root directory given on the command line the same way as one from the file. */
  public static Path checkRoot(String flag, String value) {
    Path p = Path.of(value);
    if (!p.isAbsolute()) {
      throw new ConfigException(
          "flag " + flag + ": must be an absolute path (got \"" + value + "\")");
    }
    return p.normalize();
  }

  /** Checks a log level given on the command line. */
  public static String checkLogLevel(String flag, String value) {
    try {
      return Logging.checkLevel(value);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("flag " + flag + ": " + e.getMessage());
    }
  }

  private static Path checkSocketPath(String where, Path p) {
    if (!p.isAbsolute()) {
      throw new ConfigException(where + ": must be an absolute path (got \"" + p + "\")");
    }
    if (p.toString().getBytes(StandardCharsets.UTF_8).length > SUN_PATH_MAX) {
      throw new ConfigException(
          where
              + ": a unix socket path may have at most "
              + SUN_PATH_MAX
              + " bytes (got "
              + p.toString().getBytes(StandardCharsets.UTF_8).length
              + ")");
    }
    return p.normalize();
  }

  private static List<String> sorted(Set<String> values) {
    return values.stream().sorted().toList();
  }

  /** Typed access to one JSON object, with errors naming the key. */
  private static final class Reader {
    private final Path file;
    private final ObjectNode tree;
    private final UnknownKeys unknown;

    Reader(Path file, ObjectNode tree) {
      this.file = file;
      this.tree = tree;
      this.unknown = new UnknownKeys("config " + file);
    }

    List<String> warnings() {
      return unknown.warnings();
    }

    private ConfigException bad(String key, String expectation, JsonNode got) {
      return new ConfigException(
          "config "
              + file
              + ": key \""
              + key
              + "\": must be "
              + expectation
              + " (got "
              + Excerpt.of(String.valueOf(got))
              + ")");
    }

    /** The node at a dotted key, or null when absent or JSON null (both mean "default"). */
    private JsonNode node(String key) {
      JsonNode n = tree;
      for (String part : key.split("\\.")) {
        n = n.get(part);
        if (n == null || n.isNull()) {
          return null;
        }
      }
      return n;
    }

    String string(String key, String def) {
      JsonNode n = node(key);
      if (n == null) {
        return def;
      }
      if (!n.isTextual()) {
        throw bad(key, "a string", n);
      }
      return n.textValue();
    }

    boolean bool(String key, boolean def) {
      JsonNode n = node(key);
      if (n == null) {
        return def;
      }
      if (!n.isBoolean()) {
        throw bad(key, "true or false", n);
      }
      return n.booleanValue();
    }

    int integer(String key, int def, int min, int max) {
      JsonNode n = node(key);
      if (n == null) {
        return def;
      }
      if (!n.isIntegralNumber()
          || !n.canConvertToInt()
          || n.intValue() < min
          || n.intValue() > max) {
        throw bad(key, "an integer from " + min + " to " + max, n);
      }
      return n.intValue();
    }

    String oneOf(String key, String def, Set<String> allowed) {
      String v = string(key, def);
      if (!allowed.contains(v)) {
        throw bad(key, "one of " + String.join(", ", sorted(allowed)), node(key));
      }
      return v;
    }

    String matching(String key, String def, Pattern pattern, String expectation) {
      String v = string(key, def);
      if (!pattern.matcher(v).matches()) {
        throw bad(key, expectation, node(key));
      }
      return v;
    }

    Path absolutePath(String key, Path def) {
      String v = string(key, null);
      if (v == null) {
        return def;
      }
      Path p = Path.of(v);
      if (!p.isAbsolute()) {
        throw bad(key, "an absolute path", node(key));
      }
      return key.equals("address")
          ? checkSocketPath("config " + file + ": key \"address\"", p)
          : p.normalize();
    }

    RwMode rwMode(String key, RwMode def) {
      String v = string(key, def.json());
      for (RwMode m : RwMode.values()) {
        if (m.json().equals(v)) {
          return m;
        }
      }
      throw bad(key, "one of overlayfs, dir, dev", node(key));
    }

    Exporter exporter(Exporter def) {
      JsonNode n = node("exporterConfig");
      if (n == null) {
        return def;
      }
      if (!n.isObject()) {
        throw bad("exporterConfig", "an object", n);
      }
      warnUnknown("exporterConfig.", (ObjectNode) n, Set.of("enable", "uriPrefix", "port", "host"));
      String prefix = string("exporterConfig.uriPrefix", def.uriPrefix());
      if (!prefix.startsWith("/")) {
        throw bad(
            "exporterConfig.uriPrefix", "a path starting with /", node("exporterConfig.uriPrefix"));
      }
      return new Exporter(
          bool("exporterConfig.enable", def.enable()),
          prefix,
          integer("exporterConfig.port", def.port(), 1, 65535),
          string("exporterConfig.host", def.host()));
    }

    CriImageService criImageService(CriImageService def) {
      String key = "criImageService";
      JsonNode n = node(key);
      if (n == null) {
        return def;
      }
      if (!n.isObject()) {
        throw bad(key, "an object {enable, address, containerdAddress, ...}", n);
      }
      warnUnknown(
          key + ".",
          (ObjectNode) n,
          Set.of("enable", "address", "containerdAddress", "credentialTtlSec", "maxCredentials"));
      return new CriImageService(
          bool(key + ".enable", def.enable()),
          socketPath(key + ".address", def.address()),
          socketPath(key + ".containerdAddress", def.containerdAddress()),
          java.time.Duration.ofSeconds(
              integer(
                  key + ".credentialTtlSec",
                  (int) def.credentialTtl().toSeconds(),
                  60,
                  MAX_CREDENTIAL_TTL_SEC)),
          integer(key + ".maxCredentials", def.maxCredentials(), 1, MAX_CREDENTIALS));
    }

    /** An absolute unix socket path at {@code key}. */
    Path socketPath(String key, Path def) {
      String v = string(key, null);
      if (v == null) {
        return def;
      }
      if (!Path.of(v).isAbsolute()) {
        throw bad(key, "an absolute path", node(key));
      }
      return checkSocketPath("config " + file + ": key \"" + key + "\"", Path.of(v));
    }

    List<MirrorRegistry> mirrors() {
      JsonNode n = node("mirrorRegistry");
      if (n == null) {
        return List.of();
      }
      if (!n.isArray()) {
        throw bad("mirrorRegistry", "an array of {host, insecure}", n);
      }
      List<MirrorRegistry> out = new ArrayList<>();
      for (int i = 0; i < n.size(); i++) {
        String key = "mirrorRegistry[" + i + "]";
        JsonNode e = n.get(i);
        if (!e.isObject()) {
          throw bad(key, "an object {host, insecure}", e);
        }
        warnUnknown(key + ".", (ObjectNode) e, Set.of("host", "insecure"));
        JsonNode host = e.get("host");
        if (host == null || !host.isTextual() || host.textValue().isBlank()) {
          throw bad(key + ".host", "a registry host name", host);
        }
        JsonNode insecure = e.get("insecure");
        if (insecure != null && !insecure.isNull() && !insecure.isBoolean()) {
          throw bad(key + ".insecure", "true or false", insecure);
        }
        out.add(new MirrorRegistry(host.textValue(), insecure != null && insecure.asBoolean()));
      }
      return out;
    }

    /** Upstream's list, with ext4 and erofs appended when missing, as upstream does. */
    List<String> turboFsTypes() {
      JsonNode n = node("turboFsType");
      Set<String> types = new LinkedHashSet<>();
      if (n != null) {
        if (!n.isArray()) {
          throw bad("turboFsType", "an array of filesystem types", n);
        }
        for (JsonNode e : n) {
          if (!e.isTextual() || !FS_TYPE.matcher(e.textValue()).matches()) {
            throw bad("turboFsType", "an array of filesystem types", n);
          }
          types.add(e.textValue());
        }
      } else {
        types.add("erofs");
      }
      types.add("ext4");
      types.add("erofs");
      return List.copyOf(types);
    }

    void warnUnknown(String prefix, ObjectNode object, Set<String> known) {
      for (Map.Entry<String, JsonNode> field : object.properties()) {
        String key = field.getKey();
        if (!known.contains(key)) {
          unknown.add(Excerpt.of(prefix + key));
        }
      }
    }
  }
}
