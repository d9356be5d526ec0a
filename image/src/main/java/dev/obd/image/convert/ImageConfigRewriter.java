package dev.obd.image.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.obd.image.oci.Digest;
import java.util.List;

/**
 * The converted image's config: the source config reduced to the OCI image-spec fields, in the Go
 * struct order the official convertor writes (it round-trips the config through {@code
 * specs.Image}), with empty values omitted and {@code rootfs.diff_ids} replaced by the OverlayBD
 * blob digests.
 */
final class ImageConfigRewriter {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final List<String> IMAGE_KEYS =
      List.of("created", "author", "architecture", "variant", "os", "os.version", "os.features");
  private static final List<String> CONFIG_KEYS =
      List.of(
          "User",
          "ExposedPorts",
          "Env",
          "Entrypoint",
          "Cmd",
          "Volumes",
          "WorkingDir",
          "Labels",
          "StopSignal",
          "ArgsEscaped");
  private static final List<String> HISTORY_KEYS =
      List.of("created", "created_by", "author", "comment", "empty_layer");

  private ImageConfigRewriter() {}

  static byte[] rewrite(JsonNode source, List<Digest> blobDigests) throws java.io.IOException {
    ObjectNode out = JSON.createObjectNode();
    copy(source, out, IMAGE_KEYS);
    JsonNode config = source.path("config");
    if (config.isObject()) {
      ObjectNode c = JSON.createObjectNode();
      copy(config, c, CONFIG_KEYS);
      out.set("config", c);
    }
    ObjectNode rootfs = out.putObject("rootfs");
    rootfs.put("type", "layers");
    ArrayNode ids = rootfs.putArray("diff_ids");
    for (Digest d : blobDigests) {
      ids.add(d.toString());
    }
    JsonNode history = source.path("history");
    if (history.isArray() && !history.isEmpty()) {
      ArrayNode h = out.putArray("history");
      for (JsonNode entry : history) {
        ObjectNode e = JSON.createObjectNode();
        copy(entry, e, HISTORY_KEYS);
        h.add(e);
      }
    }
    return JSON.writeValueAsBytes(out);
  }

  /** Copies {@code keys} that hold a non-empty value (Go's omitempty). */
  private static void copy(JsonNode from, ObjectNode to, List<String> keys) {
    for (String k : keys) {
      JsonNode v = from.get(k);
      if (v == null || v.isNull()) {
        continue;
      }
      if ((v.isTextual() && v.asText().isEmpty())
          || (v.isContainerNode() && v.isEmpty())
          || (v.isBoolean() && !v.booleanValue())) {
        continue;
      }
      to.set(k, v);
    }
  }
}
