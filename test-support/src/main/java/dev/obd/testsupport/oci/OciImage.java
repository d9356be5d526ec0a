package dev.obd.testsupport.oci;

import dev.obd.testsupport.Mounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An OCI image the tests build without any registry or download: gzip layers, a config with a
 * command, a manifest, written as an OCI image layout (and as a tar of it for ctr import).
 */
public final class OciImage {
  private final String name;
  private final List<TarLayer> layers;
  private final List<String> cmd;

  public OciImage(String name, List<TarLayer> layers, List<String> cmd) {
    this.name = name;
    this.layers = List.copyOf(layers);
    this.cmd = List.copyOf(cmd);
  }

  public String name() {
    return name;
  }

  public List<TarLayer> layers() {
    return layers;
  }

  /** containerd's chain ids of the layers, bottom first. */
  public List<String> chainIds() {
    List<String> ids = new ArrayList<>();
    String chain = null;
    for (TarLayer l : layers) {
      String diffId = TarLayer.sha256(l.tar());
      chain =
          chain == null
              ? diffId
              : TarLayer.sha256((chain + " " + diffId).getBytes(StandardCharsets.UTF_8));
      ids.add(chain);
    }
    return ids;
  }

  /** Writes an OCI image layout to {@code dir}, tagged {@code tag}. */
  public void writeLayout(Path dir, String tag) throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
    String manifest = writeImage(blobs, "linux", "amd64");
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    Files.writeString(
        dir.resolve("index.json"),
        ("{\"schemaVersion\":2,\"manifests\":[%s,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},"
                + "\"annotations\":{\"io.containerd.image.name\":%s,\"org.opencontainers.image.ref.name\":%s}}]}")
            .formatted(manifest, json(name), json(tag)));
  }

  /**
   * Writes a multi-platform image to {@code dir}: an OCI index, tagged {@code tag}, listing each
   * image for the platform ({@code os/architecture}) it is keyed by, in the map's order; each
   * config names its platform.
   */
  public static void writeIndexLayout(Path dir, String tag, Map<String, OciImage> byPlatform)
      throws IOException {
    Path blobs = Files.createDirectories(dir.resolve("blobs/sha256"));
    StringBuilder entries = new StringBuilder();
    for (Map.Entry<String, OciImage> e : byPlatform.entrySet()) {
      String[] p = e.getKey().split("/");
      entries
          .append(entries.length() == 0 ? "" : ",")
          .append(e.getValue().writeImage(blobs, p[0], p[1]))
          .append(
              ",\"platform\":{\"architecture\":%s,\"os\":%s}}".formatted(json(p[1]), json(p[0])));
    }
    byte[] index =
        ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"manifests\":["
                + entries
                + "]}")
            .getBytes(StandardCharsets.UTF_8);
    String indexDigest = blob(blobs, index);
    Files.writeString(dir.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    Files.writeString(
        dir.resolve("index.json"),
        ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"digest\":\"%s\",\"size\":%d,"
                + "\"annotations\":{\"org.opencontainers.image.ref.name\":%s}}]}")
            .formatted(indexDigest, index.length, json(tag)));
  }

  /**
   * Writes the layers, config and manifest into {@code blobs}; returns the start of the manifest's
   * descriptor (media type, digest and size, without the closing brace).
   */
  private String writeImage(Path blobs, String os, String architecture) throws IOException {
    StringBuilder layerDescs = new StringBuilder();
    StringBuilder diffIds = new StringBuilder();
    for (TarLayer l : layers) {
      byte[] tar = l.tar();
      byte[] gz = TarLayer.gzip(tar);
      String digest = blob(blobs, gz);
      if (layerDescs.length() > 0) {
        layerDescs.append(',');
        diffIds.append(',');
      }
      layerDescs.append(
          "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%d}"
              .formatted(digest, gz.length));
      diffIds.append('"').append(TarLayer.sha256(tar)).append('"');
    }
    StringBuilder cmdJson = new StringBuilder();
    for (String c : cmd) {
      cmdJson.append(cmdJson.length() == 0 ? "" : ",").append(json(c));
    }
    byte[] config =
        ("{\"architecture\":"
                + json(architecture)
                + ",\"os\":"
                + json(os)
                + ",\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":["
                + cmdJson
                + "]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
                + diffIds
                + "]}}")
            .getBytes(StandardCharsets.UTF_8);
    String configDigest = blob(blobs, config);
    byte[] manifest =
        ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\""
                + configDigest
                + "\",\"size\":"
                + config.length
                + "},\"layers\":["
                + layerDescs
                + "]}")
            .getBytes(StandardCharsets.UTF_8);
    return "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%d"
        .formatted(blob(blobs, manifest), manifest.length);
  }

  /** Writes the layout as a tar, as {@code ctr images import} reads it. */
  public Path writeTar(Path dir, String tag) throws IOException {
    Path layout = Files.createDirectories(dir.resolve("layout"));
    writeLayout(layout, tag);
    Path tar = dir.resolve("image.tar");
    Mounts.run(List.of("tar", "-C", layout.toString(), "-cf", tar.toString(), "."), null);
    return tar;
  }

  /** Pushes the image to {@code registryHost} (plain http) as {@code repo:tag} with skopeo. */
  public String push(Path dir, String registryHost, String repo, String tag) throws IOException {
    Path layout = Files.createDirectories(dir.resolve("push-layout"));
    writeLayout(layout, tag);
    String ref = registryHost + "/" + repo + ":" + tag;
    ObdImages.push(layout, tag, ref);
    return ref;
  }

  private static String blob(Path blobs, byte[] data) throws IOException {
    String digest = TarLayer.sha256(data);
    Files.write(blobs.resolve(digest.substring("sha256:".length())), data);
    return digest;
  }

  private static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
