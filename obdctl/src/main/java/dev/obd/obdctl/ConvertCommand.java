package dev.obd.obdctl;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.image.convert.ConvertProgress;
import dev.obd.image.convert.Converter;
import dev.obd.image.convert.LayerRecords;
import dev.obd.image.oci.Descriptor;
import dev.obd.image.oci.ImageIndex.Platform;
import dev.obd.image.oci.ImageSource;
import dev.obd.image.oci.ImageTarget;
import dev.obd.image.oci.LayoutImage;
import dev.obd.image.zfile.Compression;
import dev.obd.registry.CredentialSource;
import dev.obd.registry.CredentialStore;
import dev.obd.registry.Credentials;
import dev.obd.registry.DistributionClient;
import dev.obd.registry.ImageReference;
import dev.obd.registry.RegistryImage;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code obdctl convert}: an OCI or Docker image into an OverlayBD image (ext4 needs root, erofs
 * does not).
 */
@Command(
    name = "convert",
    description = {
      "Convert an image into an OverlayBD image, as the official convertor does: each tar layer"
          + " is applied to an ext4 disk through a loop mount (needs root) and the changed blocks"
          + " are committed as an OverlayBD layer. With --fstype erofs each layer appends its"
          + " files and the merged tree's metadata to a read-only EROFS image, in user space.",
      "Images are registry references (registry.example.com/app:v1, docker.io/library/redis:7)"
          + " or OCI layouts written oci:DIR:TAG (or DIR:TAG with DIR starting with / or ./)."
          + " Blobs the target has are not uploaded again; the target tag is written last."
    })
final class ConvertCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(
      names = {"--source", "--from"},
      required = true,
      paramLabel = "IMAGE",
      description = "The image to convert: a registry reference or oci:DIR:TAG.")
  String from;

  @Option(
      names = {"--target", "--to"},
      required = true,
      paramLabel = "IMAGE",
      description = "Where to store the result: a registry reference or oci:DIR:TAG.")
  String to;

  @Option(
      names = "--platform",
      split = ",",
      paramLabel = "OS/ARCH[/VARIANT]",
      description =
          "Platforms of a multi-platform image to convert (default: every platform); repeat or"
              + " separate with commas.")
  List<String> platforms = new ArrayList<>();

  @Option(
      names = "--plain-http",
      description = "Talk plain HTTP to the registries instead of HTTPS.")
  boolean plainHttp;

  @Option(
      names = "--creds",
      paramLabel = "USER:PASSWORD",
      description =
          "Credentials for the target's registry (sent to no other host). Prefer a docker"
              + " config.json: a command line is visible to other users.")
  String targetCreds;

  @Option(
      names = "--source-creds",
      paramLabel = "USER:PASSWORD",
      description = "Credentials for the source's registry (sent to no other host).")
  String sourceCreds;

  @Option(
      names = "--authfile",
      paramLabel = "FILE",
      description =
          "Docker config.json with registry credentials (default: $DOCKER_CONFIG/config.json,"
              + " else ~/.docker/config.json).")
  Path authFile;

  @Option(
      names = "--fstype",
      defaultValue = "ext4",
      description = "File system of the disk: ext4 (default) or erofs (read-only; no root).")
  String fstype;

  @Option(
      names = "--vsize",
      defaultValue = "64",
      paramLabel = "GiB",
      description = "Virtual disk size in GiB (default ${DEFAULT-VALUE}).")
  long vsizeGib;

  @Option(names = "--zstd", description = "Compress layers with zstd instead of LZ4.")
  boolean zstd;

  @Option(
      names = "--workdir",
      paramLabel = "DIR",
      description =
          "Scratch directory for the sparse disk image and the layers being made (default:"
              + " java.io.tmpdir).")
  Path workDir;

  @Option(
      names = "--db",
      paramLabel = "FILE",
      description =
          "SQLite file recording the layers conversions made, so that a layer chain converted"
              + " before (same chain ID, same options) is taken from the target, or mounted from"
              + " the repository it went to, instead of converted again (default:"
              + " $XDG_CACHE_HOME/obdctl/layers.db, else ~/.cache/obdctl/layers.db).")
  Path db;

  @Option(names = "--no-reuse", description = "Convert every layer, and record none.")
  boolean noReuse;

  @Option(
      names = "--json",
      description =
          "Print the result as one JSON object on standard output (progress goes to standard"
              + " error).")
  boolean json;

  @Option(
      names = "--timeout",
      defaultValue = "60",
      paramLabel = "SECONDS",
      description =
          "How long one registry request may wait for an answer (default ${DEFAULT-VALUE}).")
  long timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    if (vsizeGib <= 0 || vsizeGib > 1 << 20) {
      throw new IllegalArgumentException("--vsize " + vsizeGib + " is not a sensible size in GiB");
    }
    if (timeoutSeconds <= 0) {
      throw new IllegalArgumentException("--timeout " + timeoutSeconds + " is not positive");
    }
    List<Platform> wanted = new ArrayList<>();
    for (String p : platforms) {
      wanted.add(Platform.parse(p.trim()));
    }
    Image src = Image.parse("--source", from);
    Image dst = Image.parse("--target", to);
    if (dst.registry().isPresent() && dst.registry().get().tag().isEmpty()) {
      throw new IllegalArgumentException("--target " + to + " names no tag to write");
    }
    DistributionClient client =
        new DistributionClient(
            credentials(src, dst), plainHttp, Duration.ofSeconds(timeoutSeconds));
    ImageSource source =
        src.registry().isPresent()
            ? new RegistryImage(client, src.registry().get())
            : LayoutImage.source(src.layout(), src.tag());
    ImageTarget target =
        dst.registry().isPresent()
            ? new RegistryImage(client, dst.registry().get())
            : LayoutImage.target(dst.layout(), dst.tag());
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter lines = json ? spec.commandLine().getErr() : out;
    TerminalProgress terminal =
        !json && TerminalProgress.available()
            ? new TerminalProgress(out, TerminalProgress.columns())
            : null;
    ConvertProgress progress =
        terminal != null
            ? terminal
            : line -> {
              lines.println(line);
              lines.flush();
            };
    Converter.Outcome o;
    try (LayerRecords records =
        noReuse ? LayerRecords.none() : SqliteLayerRecords.open(db != null ? db : defaultDb())) {
      o =
          Converter.convert(
              source,
              target,
              new Converter.Options(
                  vsizeGib << 30,
                  zstd ? Compression.ZSTD : Compression.LZ4,
                  fstype,
                  workDir,
                  wanted),
              records,
              progress);
    } finally {
      if (terminal != null) {
        terminal.finish();
      }
    }
    Converter.Stats s = o.stats();
    if (json) {
      out.println(JSON.writeValueAsString(toJson(source, target, o)));
    } else {
      out.printf(
          "%s: %d image(s), %d OverlayBD layer(s) made (%d bytes from %d bytes of source layers),"
              + " %d reused, %d blob(s) stored, %d already there, %d mounted, %s %s, in %.1f s%n",
          target.name(),
          o.images().size(),
          s.layersConverted(),
          s.layerBytes(),
          s.sourceBytes(),
          s.layersReused(),
          s.blobsStored(),
          s.blobsPresent(),
          s.blobsMounted(),
          o.images().size() == 1 && o.images().get(0).platform().isEmpty() ? "manifest" : "index",
          o.root().digest(),
          s.nanos() / 1e9);
    }
    return 0;
  }

  /**
   * Credentials: {@code --creds} and {@code --source-creds} for their own registry host only, then
   * the docker config file.
   */
  private CredentialSource credentials(Image src, Image dst) {
    List<CredentialSource> sources = new ArrayList<>();
    if (targetCreds != null) {
      sources.add(forHost("--creds", targetCreds, dst));
    }
    if (sourceCreds != null) {
      sources.add(forHost("--source-creds", sourceCreds, src));
    }
    sources.add(CredentialStore.dockerConfig(authFile != null ? authFile : defaultAuthFile()));
    return CredentialSource.inTurn(sources.toArray(CredentialSource[]::new));
  }

  private static CredentialSource forHost(String option, String value, Image image) {
    int colon = value.indexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException(option + " takes USER:PASSWORD");
    }
    if (image.registry().isEmpty()) {
      throw new IllegalArgumentException(option + " is for a registry, and the image is a layout");
    }
    Credentials c = new Credentials(value.substring(0, colon), value.substring(colon + 1));
    String host = image.registry().get().apiHost();
    return blob -> blob.host().equals(host) ? Optional.of(c) : Optional.empty();
  }

  static Path defaultDb() {
    String cache = System.getenv("XDG_CACHE_HOME");
    Path base = cache != null && !cache.isEmpty() ? Path.of(cache) : home().resolve(".cache");
    return base.resolve("obdctl").resolve("layers.db");
  }

  static Path defaultAuthFile() {
    String dc = System.getenv("DOCKER_CONFIG");
    if (dc != null && !dc.isEmpty()) {
      return Path.of(dc, "config.json");
    }
    return home().resolve(".docker").resolve("config.json");
  }

  /** $HOME, as docker and skopeo take it, else the account's home directory. */
  private static Path home() {
    String h = System.getenv("HOME");
    return Path.of(h != null && !h.isEmpty() ? h : System.getProperty("user.home"));
  }

  private static ObjectNode toJson(ImageSource source, ImageTarget target, Converter.Outcome o) {
    ObjectNode n = JSON.createObjectNode();
    n.put("source", source.name());
    n.put("target", target.name());
    n.set("root", descriptor(o.root()));
    ArrayNode images = n.putArray("images");
    for (Converter.Result r : o.images()) {
      ObjectNode i = images.addObject();
      r.platform().ifPresent(p -> i.put("platform", p.toString()));
      i.set("manifest", descriptor(r.manifest()));
      i.set("config", descriptor(r.config()));
      ArrayNode ls = i.putArray("layers");
      r.layers().forEach(l -> ls.add(descriptor(l)));
    }
    Converter.Stats s = o.stats();
    ObjectNode st = n.putObject("stats");
    st.put("layersConverted", s.layersConverted());
    st.put("layersReused", s.layersReused());
    st.put("blobsStored", s.blobsStored());
    st.put("blobsPresent", s.blobsPresent());
    st.put("blobsMounted", s.blobsMounted());
    st.put("sourceBytes", s.sourceBytes());
    st.put("layerBytes", s.layerBytes());
    st.put("seconds", Math.round(s.nanos() / 1e6) / 1e3);
    return n;
  }

  private static ObjectNode descriptor(Descriptor d) {
    ObjectNode n = JSON.createObjectNode();
    n.put("mediaType", d.mediaType());
    n.put("digest", d.digest().toString());
    n.put("size", d.size());
    return n;
  }

  /**
   * An image argument: an OCI layout ({@code oci:DIR:TAG}, or {@code DIR:TAG} with DIR absolute or
   * starting with ./ or ../) or a registry reference.
   */
  record Image(Optional<ImageReference> registry, Path layout, String tag) {
    static Image parse(String option, String text) {
      boolean layout =
          text.startsWith("oci:")
              || text.startsWith("/")
              || text.startsWith("./")
              || text.startsWith("../");
      if (!layout) {
        try {
          return new Image(Optional.of(ImageReference.parse(text)), null, null);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
        }
      }
      String rest = text.startsWith("oci:") ? text.substring(4) : text;
      int colon = rest.lastIndexOf(':');
      if (colon <= 0 || colon == rest.length() - 1) {
        throw new IllegalArgumentException(
            option + " \"" + text + "\" is not oci:DIR:TAG (an OCI layout and a tag in it)");
      }
      return new Image(
          Optional.empty(), Path.of(rest.substring(0, colon)), rest.substring(colon + 1));
    }
  }
}
