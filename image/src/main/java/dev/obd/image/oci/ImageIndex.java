package dev.obd.image.oci;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A multi-platform image: an OCI index or a Docker manifest list, its entries with their platforms.
 *
 * @param descriptor the index's own descriptor
 * @param entries the manifests it lists, in its order
 */
public record ImageIndex(Descriptor descriptor, List<Entry> entries) {
  public ImageIndex {
    entries = List.copyOf(entries);
  }

  /**
   * One manifest of the index and the platform it is for (empty when the entry names none).
   *
   * @param descriptor the manifest's descriptor, as the index lists it
   */
  public record Entry(Descriptor descriptor, Optional<Platform> platform) {}

  /**
   * A platform as OCI writes it: {@code os}, {@code architecture} and an optional {@code variant}.
   */
  public record Platform(String os, String architecture, String variant) {
    public Platform {
      if (os.isEmpty() || architecture.isEmpty()) {
        throw new IllegalArgumentException("a platform needs an os and an architecture");
      }
      variant = variant == null ? "" : variant;
    }

    /**
     * Parses {@code os/architecture[/variant]}, as {@code --platform} takes it.
     *
     * @throws IllegalArgumentException for anything else
     */
    public static Platform parse(String text) {
      String[] p = text.split("/", -1);
      if (p.length < 2
          || p.length > 3
          || p[0].isEmpty()
          || p[1].isEmpty()
          || (p.length == 3 && p[2].isEmpty())) {
        throw new IllegalArgumentException(
            "platform \"" + text + "\" is not os/architecture[/variant], e.g. linux/arm64");
      }
      return new Platform(p[0], p[1], p.length == 3 ? p[2] : "");
    }

    /**
     * Whether this platform is one a user asked for as {@code wanted}: os and architecture equal,
     * and the variant too when {@code wanted} names one.
     */
    public boolean matches(Platform wanted) {
      return os.equals(wanted.os)
          && architecture.equals(wanted.architecture)
          && (wanted.variant.isEmpty() || variant.equals(wanted.variant));
    }

    /**
     * Whether this is no runnable platform: buildx lists its attestation manifests as {@code
     * unknown/unknown}.
     */
    public boolean isUnknown() {
      return os.equals("unknown") || architecture.equals("unknown");
    }

    @Override
    public String toString() {
      return os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
    }
  }

  /** Parses index document {@code doc} that {@code d} describes. */
  public static ImageIndex parse(Descriptor d, JsonNode doc) throws IOException {
    List<Entry> entries = new ArrayList<>();
    String where = "index " + d.digest();
    for (JsonNode m : doc.path("manifests")) {
      Descriptor md = OciLayout.descriptor(m, where);
      JsonNode p = m.path("platform");
      Optional<Platform> platform = Optional.empty();
      if (p.isObject()
          && !p.path("os").asText("").isEmpty()
          && !p.path("architecture").asText("").isEmpty()) {
        platform =
            Optional.of(
                new Platform(
                    p.path("os").asText(),
                    p.path("architecture").asText(),
                    p.path("variant").asText("")));
      }
      entries.add(new Entry(md, platform));
    }
    return new ImageIndex(d, entries);
  }
}
