package dev.obd.image.oci;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A single-platform image manifest (OCI or Docker schema 2): its config and layers.
 *
 * @param descriptor the manifest's own descriptor
 * @param config the image config blob
 * @param layers the layer blobs, bottom first
 */
public record ImageManifest(Descriptor descriptor, Descriptor config, List<Descriptor> layers) {
  public ImageManifest {
    layers = List.copyOf(layers);
  }

  /**
   * Reads the manifest {@code d} points at; for an index (or Docker manifest list) the entry for
   * linux on this machine's architecture is taken, or the only entry.
   */
  public static ImageManifest read(OciLayout layout, Descriptor d) throws IOException {
    JsonNode doc = layout.readJson(d);
    String type = d.mediaType().isEmpty() ? doc.path("mediaType").asText("") : d.mediaType();
    if (MediaTypes.isIndex(type) || (type.isEmpty() && doc.has("manifests"))) {
      return read(layout, pickPlatform(doc, d));
    }
    return parse(d, doc);
  }

  /** Whether document {@code doc} of descriptor {@code d} is an index (or Docker manifest list). */
  public static boolean isIndex(Descriptor d, JsonNode doc) {
    String type = doc.path("mediaType").asText("");
    if (type.isEmpty()) {
      type = d.mediaType();
    }
    return MediaTypes.isIndex(type) || (!MediaTypes.isManifest(type) && doc.has("manifests"));
  }

  /** Parses the single-platform manifest {@code doc} that {@code d} describes. */
  public static ImageManifest parse(Descriptor d, JsonNode doc) throws IOException {
    String type = doc.path("mediaType").asText(d.mediaType());
    if (!doc.has("config") || !doc.has("layers")) {
      throw new IOException(
          "read manifest " + d.digest() + ": no config or layers (media type " + type + ")");
    }
    String where = "manifest " + d.digest();
    Descriptor config = OciLayout.descriptor(doc.get("config"), where);
    List<Descriptor> layers = new ArrayList<>();
    for (JsonNode l : doc.get("layers")) {
      layers.add(OciLayout.descriptor(l, where));
    }
    return new ImageManifest(d, config, layers);
  }

  private static Descriptor pickPlatform(JsonNode index, Descriptor d) throws IOException {
    String arch = goArch(System.getProperty("os.arch"));
    JsonNode only = null;
    int count = 0;
    for (JsonNode m : index.path("manifests")) {
      count++;
      only = m;
      JsonNode p = m.path("platform");
      if (p.path("os").asText("").equals("linux")
          && p.path("architecture").asText("").equals(arch)) {
        return OciLayout.descriptor(m, "index " + d.digest());
      }
    }
    if (count == 1) {
      return OciLayout.descriptor(only, "index " + d.digest());
    }
    throw new IOException("read index " + d.digest() + ": no manifest for linux/" + arch);
  }

  static String goArch(String javaArch) {
    switch (javaArch) {
      case "amd64":
      case "x86_64":
        return "amd64";
      case "aarch64":
        return "arm64";
      default:
        return javaArch;
    }
  }
}
