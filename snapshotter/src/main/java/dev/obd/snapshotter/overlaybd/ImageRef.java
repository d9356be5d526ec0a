package dev.obd.snapshotter.overlaybd;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import java.util.regex.Pattern;

/**
 * A container image reference such as {@code registry.example.com:5000/team/app:1.2} or {@code
 * ubuntu@sha256:...}, parsed strictly (Docker's grammar) so that no URL is ever built from
 * unchecked text.
 *
 * @param host registry host and optional port; {@code docker.io} for Docker Hub
 * @param repository repository path, {@code library/<name>} for Docker Hub's official images
 */
public record ImageRef(String host, String repository) {
  private static final Pattern HOST =
      Pattern.compile(
          "^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
              + "|\\[[0-9a-fA-F:]+\\])(?::[0-9]{1,5})?$");
  private static final Pattern COMPONENT =
      Pattern.compile("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$");
  private static final Pattern TAG = Pattern.compile("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$");
  private static final Pattern DIGEST =
      Pattern.compile("^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$");

  /**
   * @throws InvalidArgumentException naming the label when {@code ref} is not a valid reference
   */
  public static ImageRef parse(String label, String ref) {
    if (ref.isEmpty() || ref.length() > 1024) {
      throw invalid(label, ref, "is not an image reference");
    }
    String rest = ref;
    int at = rest.indexOf('@');
    if (at >= 0) {
      if (!DIGEST.matcher(rest.substring(at + 1)).matches()) {
        throw invalid(label, ref, "has an invalid digest");
      }
      rest = rest.substring(0, at);
    }
    int colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      if (!TAG.matcher(rest.substring(colon + 1)).matches()) {
        throw invalid(label, ref, "has an invalid tag");
      }
      rest = rest.substring(0, colon);
    }
    String host = "docker.io";
    String path = rest;
    int slash = rest.indexOf('/');
    if (slash > 0) {
      String first = rest.substring(0, slash);
      if (first.contains(".") || first.contains(":") || first.equals("localhost")) {
        host = first;
        path = rest.substring(slash + 1);
      }
    }
    if (!HOST.matcher(host).matches()) {
      throw invalid(label, ref, "has an invalid registry host");
    }
    for (String component : path.split("/", -1)) {
      if (!COMPONENT.matcher(component).matches()) {
        throw invalid(label, ref, "has an invalid repository");
      }
    }
    if (host.equals("docker.io") && !path.contains("/")) {
      path = "library/" + path;
    }
    return new ImageRef(host, path);
  }

  /**
   * Where the registry serves this repository's blobs, as upstream builds it: Docker Hub's API host
   * for {@code docker.io}, https unless the host is a mirror marked insecure.
   */
  public String blobUrl(boolean insecure) {
    return (insecure ? "http://" : "https://") + apiHost() + "/v2/" + repository + "/blobs";
  }

  /** The host of this repository's blob URLs: Docker Hub's API host for {@code docker.io}. */
  public String apiHost() {
    return host.equals("docker.io") ? "registry-1.docker.io" : host;
  }

  private static InvalidArgumentException invalid(String label, String ref, String what) {
    String shown = ref.length() > 80 ? ref.substring(0, 80) + "..." : ref;
    return new InvalidArgumentException("label " + label + ": \"" + shown + "\" " + what);
  }
}
