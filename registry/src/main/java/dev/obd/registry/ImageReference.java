package dev.obd.registry;

import dev.obd.image.oci.Digest;
import java.util.regex.Pattern;

/**
 * An image reference as docker and containerd read one: {@code [host[:port]/]path[:tag][@digest]}.
 * The first component is a host when it has a dot or a colon or is {@code localhost}; without one
 * the image is on Docker Hub, whose one-component names live under {@code library/}. A reference
 * without tag or digest means {@code :latest}. Validated on construction.
 *
 * @param host {@code host[:port]} as written, {@code docker.io} for Docker Hub
 * @param repository the repository path, e.g. {@code library/redis}
 * @param tag the tag, or "" when the reference names a digest only
 * @param digest the digest, or "" when the reference names a tag
 */
public record ImageReference(String host, String repository, String tag, String digest) {
  private static final Pattern HOST =
      Pattern.compile(
          "[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?|\\[[0-9a-fA-F:.]+\\](:[0-9]{1,5})?");
  private static final Pattern REPOSITORY =
      Pattern.compile(
          "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*");
  private static final Pattern TAG = Pattern.compile("[\\w][\\w.-]{0,127}");

  public ImageReference {
    if (!HOST.matcher(host).matches()) {
      throw new IllegalArgumentException("\"" + host + "\" is not a registry host");
    }
    if (repository.length() > 255 || !REPOSITORY.matcher(repository).matches()) {
      throw new IllegalArgumentException(
          "\"" + repository + "\" is not a repository name (lower-case path components)");
    }
    if (!tag.isEmpty() && !TAG.matcher(tag).matches()) {
      throw new IllegalArgumentException("\"" + tag + "\" is not a tag");
    }
    if (!digest.isEmpty() && !Digest.isValid(digest)) {
      throw new IllegalArgumentException("\"" + digest + "\" is not a sha256 digest");
    }
    if (tag.isEmpty() && digest.isEmpty()) {
      throw new IllegalArgumentException("a reference needs a tag or a digest");
    }
  }

  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException with the reason, for anything that is no image reference
   */
  public static ImageReference parse(String text) {
    String rest = text;
    String digest = "";
    int at = rest.indexOf('@');
    if (at >= 0) {
      digest = rest.substring(at + 1);
      rest = rest.substring(0, at);
    }
    String host = "docker.io";
    int slash = rest.indexOf('/');
    if (slash > 0) {
      String first = rest.substring(0, slash);
      if (first.contains(".") || first.contains(":") || first.equals("localhost")) {
        host = first;
        rest = rest.substring(slash + 1);
      }
    }
    String tag = "";
    int colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      tag = rest.substring(colon + 1);
      rest = rest.substring(0, colon);
    } else if (digest.isEmpty()) {
      tag = "latest";
    }
    if (host.equals("docker.io") || host.equals("index.docker.io")) {
      host = "docker.io";
      if (!rest.contains("/")) {
        rest = "library/" + rest;
      }
    }
    try {
      return new ImageReference(host, rest, tag, digest);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "\"" + text + "\" is not an image reference: " + e.getMessage(), e);
    }
  }

  /** Where the registry's API is: Docker Hub's is not at docker.io. */
  public String apiHost() {
    return host.equals("docker.io") ? "registry-1.docker.io" : host;
  }

  /** What the reference names on the manifests endpoint: the digest if any, else the tag. */
  public String reference() {
    return digest.isEmpty() ? tag : digest;
  }

  /** The same repository with {@code otherTag}. */
  public ImageReference withTag(String otherTag) {
    return new ImageReference(host, repository, otherTag, "");
  }

  @Override
  public String toString() {
    return host
        + "/"
        + repository
        + (tag.isEmpty() ? "" : ":" + tag)
        + (digest.isEmpty() ? "" : "@" + digest);
  }
}
