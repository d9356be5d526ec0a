package dev.obd.registry;

import dev.obd.image.oci.Digest;
import java.net.URI;

/**
 * The address of one registry blob, {@code <repoBlobUrl>/<digest>}, with the parts credential
 * lookup and auth scopes need. Validated on construction.
 *
 * @param uri full blob URL, {@code scheme://host[:port]/v2/<repository>/blobs/<digest>}
 * @param host {@code host[:port]}
 * @param repository the repository path, e.g. {@code library/redis}
 * @param digest {@code sha256:<64 hex>}
 */
public record BlobUrl(URI uri, String host, String repository, String digest) {
  public BlobUrl {
    if (!Digest.isValid(digest)) {
      throw new IllegalArgumentException("not a sha256 digest: " + digest);
    }
  }

  /** Builds the URL of {@code digest} under {@code repoBlobUrl} as upstream does. */
  public static BlobUrl of(String repoBlobUrl, String digest) {
    if (repoBlobUrl == null || repoBlobUrl.isEmpty()) {
      throw new IllegalArgumentException("repoBlobUrl is empty but layer " + digest + " is remote");
    }
    String base = repoBlobUrl.endsWith("/") ? repoBlobUrl : repoBlobUrl + "/";
    URI uri = URI.create(base + digest);
    String scheme = uri.getScheme();
    if (!"http".equals(scheme) && !"https".equals(scheme)) {
      throw new IllegalArgumentException("repoBlobUrl must be http(s): " + repoBlobUrl);
    }
    String path = uri.getPath();
    if (!path.startsWith("/v2/") || !path.endsWith("/blobs/" + digest)) {
      throw new IllegalArgumentException(
          "repoBlobUrl must look like scheme://host/v2/<repository>/blobs: " + repoBlobUrl);
    }
    String repository = path.substring(4, path.length() - ("/blobs/" + digest).length());
    return new BlobUrl(uri, uri.getRawAuthority(), repository, digest);
  }

  /** The digest's hex part. */
  public String hex() {
    return Digest.parse(digest).hex();
  }

  /** For messages: {@code sha256:0123abcd… of host/repository}. */
  public String describe() {
    return "blob " + digest.substring(0, 19) + "… of " + host + "/" + repository;
  }
}
