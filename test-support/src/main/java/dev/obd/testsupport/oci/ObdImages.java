package dev.obd.testsupport.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.testsupport.Requirements;
import dev.obd.testsupport.containerd.Containerd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * OverlayBD images for the end-to-end tests: ordinary test images converted with the shipped {@code
 * obdctl convert}, optionally with an ordinary layer on top (a mixed image), pushed to the local
 * registry with their digests and annotations intact.
 */
public final class ObdImages {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ObdImages() {}

  /** The built distribution's directory (bin/obdctl and friends). */
  public static Path dist() {
    Path dist = Path.of(System.getProperty("obd.distDir"));
    Requirements.require(
        Files.isExecutable(dist.resolve("bin/obdctl")), "needs the built distribution " + dist);
    return dist;
  }

  /** Converts {@code image} with obdctl into an OCI layout under {@code work}; returns it. */
  public static Path convert(OciImage image, Path work, String tag, String... options)
      throws IOException {
    Path source = work.resolve("source");
    image.writeLayout(source, tag);
    Path target = work.resolve("converted");
    List<String> command =
        new java.util.ArrayList<>(
            List.of(
                dist().resolve("bin/obdctl").toString(),
                "convert",
                "--from",
                source + ":" + tag,
                "--to",
                target + ":" + tag,
                "--workdir",
                work.toString(),
                "--db",
                work.resolve("layers.db").toString()));
    command.addAll(List.of(options));
    Containerd.Result r = Containerd.run(command, Duration.ofMinutes(5));
    if (r.exit() != 0) {
      throw new AssertionError("obdctl convert failed:\n" + r.output());
    }
    return target;
  }

  /**
   * Adds {@code layer} (gzip, an ordinary layer) on top of the image tagged {@code tag} in {@code
   * layout}, rewriting its config, manifest and index: an image mixing OverlayBD and tar layers.
   */
  public static void appendOrdinaryLayer(Path layout, String tag, TarLayer layer)
      throws IOException {
    Path blobs = layout.resolve("blobs/sha256");
    ObjectNode index = (ObjectNode) JSON.readTree(layout.resolve("index.json").toFile());
    ObjectNode manifestDesc = (ObjectNode) index.withArray("manifests").get(0);
    ObjectNode manifest =
        (ObjectNode) JSON.readTree(blob(blobs, manifestDesc.get("digest").asText()).toFile());
    ObjectNode config =
        (ObjectNode)
            JSON.readTree(
                blob(blobs, manifest.withObject("config").get("digest").asText()).toFile());

    byte[] tar = layer.tar();
    byte[] gz = TarLayer.gzip(tar);
    String layerDigest = write(blobs, gz);
    config.withObject("rootfs").withArray("diff_ids").add(TarLayer.sha256(tar));
    byte[] configBytes = JSON.writeValueAsBytes(config);
    ObjectNode configDesc = manifest.withObject("config");
    configDesc.put("digest", write(blobs, configBytes)).put("size", configBytes.length);
    ObjectNode layerDesc = JSON.createObjectNode();
    layerDesc.put("mediaType", "application/vnd.oci.image.layer.v1.tar+gzip");
    layerDesc.put("digest", layerDigest).put("size", gz.length);
    manifest.withArray("layers").add(layerDesc);
    byte[] manifestBytes = JSON.writeValueAsBytes(manifest);
    manifestDesc.put("digest", write(blobs, manifestBytes)).put("size", manifestBytes.length);
    manifestDesc.withObject("annotations").put("org.opencontainers.image.ref.name", tag);
    Files.write(layout.resolve("index.json"), JSON.writeValueAsBytes(index));
  }

  /** Pushes {@code layout:tag} to {@code ref} keeping digests and annotations. */
  public static void push(Path layout, String tag, String ref) {
    push(layout, tag, ref, null);
  }

  /**
   * As {@link #push(Path, String, String)}, to a registry that requires {@code credentials} ({@code
   * user:password}, or null for none).
   */
  public static void push(Path layout, String tag, String ref, String credentials) {
    push(layout, tag, ref, credentials, false);
  }

  /**
   * As {@link #push(Path, String, String, String)} for a multi-platform image: the index and every
   * image it lists.
   */
  public static void pushIndex(Path layout, String tag, String ref, String credentials) {
    push(layout, tag, ref, credentials, true);
  }

  private static void push(
      Path layout, String tag, String ref, String credentials, boolean everyPlatform) {
    List<String> cmd =
        new ArrayList<>(List.of("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false"));
    if (everyPlatform) {
      cmd.add("--all");
    }
    if (credentials != null) {
      cmd.addAll(List.of("--dest-creds", credentials));
    }
    cmd.addAll(List.of("oci:" + layout + ":" + tag, "docker://" + ref));
    Containerd.Result r = Containerd.run(cmd, Duration.ofMinutes(2));
    if (r.exit() != 0) {
      throw new AssertionError("skopeo push of " + ref + " failed:\n" + r.output());
    }
  }

  /**
   * The layer digests of the image tagged {@code tag} in the OCI layout {@code layout}: the blobs a
   * lazy pull must not fetch.
   */
  public static List<String> layerDigests(Path layout, String tag) throws IOException {
    for (JsonNode m : JSON.readTree(layout.resolve("index.json").toFile()).withArray("manifests")) {
      if (tag.equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
        JsonNode manifest =
            JSON.readTree(blob(layout.resolve("blobs/sha256"), m.get("digest").asText()).toFile());
        List<String> digests = new ArrayList<>();
        manifest.withArray("layers").forEach(l -> digests.add(l.get("digest").asText()));
        return digests;
      }
    }
    throw new IllegalArgumentException("no manifest tagged " + tag + " in " + layout);
  }

  /**
   * The layer digests of entry {@code entry} of the multi-platform image in the OCI layout {@code
   * layout} (its first index).
   */
  public static List<String> layerDigestsOfIndex(Path layout, int entry) throws IOException {
    Path blobs = layout.resolve("blobs/sha256");
    JsonNode top = JSON.readTree(layout.resolve("index.json").toFile()).withArray("manifests");
    JsonNode index = JSON.readTree(blob(blobs, top.get(0).get("digest").asText()).toFile());
    JsonNode manifest =
        JSON.readTree(
            blob(blobs, index.withArray("manifests").get(entry).get("digest").asText()).toFile());
    List<String> digests = new ArrayList<>();
    manifest.withArray("layers").forEach(l -> digests.add(l.get("digest").asText()));
    return digests;
  }

  private static Path blob(Path blobs, String digest) {
    return blobs.resolve(digest.substring("sha256:".length()));
  }

  private static String write(Path blobs, byte[] data) throws IOException {
    String digest = TarLayer.sha256(data);
    Files.write(blob(blobs, digest), data);
    return digest;
  }
}
