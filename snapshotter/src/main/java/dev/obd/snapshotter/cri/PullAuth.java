package dev.obd.snapshotter.cri;

import dev.obd.proto.cri.v1.AuthConfig;
import dev.obd.proto.cri.v1.PullImageRequest;
import dev.obd.snapshotter.device.PullCredential;
import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.overlaybd.ImageRef;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.Locale;
import java.util.Optional;

/**
 * The credentials of one CRI PullImage, keyed as the image's blob URLs will be: the registry host
 * and repository of its reference, parsed as the snapshotter parses the image-ref label (Docker
 * Hub's {@code ubuntu} is {@code registry-1.docker.io}, {@code library/ubuntu}).
 *
 * <p>They are chosen as containerd's CRI chooses the credentials it pulls with: none when {@code
 * server_address} names another registry than the image's; else the user name and password, or else
 * the identity token, or else the base64 {@code auth} field. {@code registry_token} is not used, as
 * containerd does not use it either. No message here holds a secret.
 */
final class PullAuth {
  private PullAuth() {}

  /** What to keep of a PullImage's auth: a credential, or why none (a reason for a debug line). */
  record Outcome(Optional<PullCredential> credential, String reason) {
    static Outcome none(String reason) {
      return new Outcome(Optional.empty(), reason);
    }
  }

  static Outcome of(PullImageRequest request, Instant expiresAt) {
    String image = request.getImage().getImage();
    if (!request.hasAuth()) {
      return Outcome.none("no auth (an anonymous pull)");
    }
    ImageRef ref;
    try {
      ref = ImageRef.parse("PullImage image", image);
    } catch (InvalidArgumentException e) {
      return Outcome.none(e.getMessage());
    }
    AuthConfig auth = request.getAuth();
    if (!auth.getServerAddress().isEmpty()
        && !registryName(auth.getServerAddress()).equals(registryName(ref.host()))) {
      return Outcome.none(
          "its auth is for server "
              + excerpt(auth.getServerAddress())
              + ", not for the image's registry "
              + ref.host());
    }
    String user;
    String secret;
    boolean token = false;
    if (!auth.getUsername().isEmpty()) {
      user = auth.getUsername();
      secret = auth.getPassword();
    } else if (!auth.getIdentityToken().isEmpty()) {
      user = "";
      secret = auth.getIdentityToken();
      token = true;
    } else if (!auth.getAuth().isEmpty()) {
      String decoded;
      try {
        decoded =
            new String(Base64.getDecoder().decode(auth.getAuth().trim()), StandardCharsets.UTF_8);
      } catch (IllegalArgumentException e) {
        return Outcome.none("its auth field is not base64");
      }
      int colon = decoded.indexOf(':');
      if (colon < 0) {
        return Outcome.none("its auth field is not base64 of user:password");
      }
      user = decoded.substring(0, colon);
      // containerd trims NULs that some tools leave after the password
      secret = stripNuls(decoded.substring(colon + 1));
    } else {
      return Outcome.none(
          auth.getRegistryToken().isEmpty()
              ? "its auth is empty (an anonymous pull)"
              : "its auth has only a registry token, which containerd does not use either");
    }
    if (secret.isEmpty()) {
      return Outcome.none("its auth has an empty secret");
    }
    return new Outcome(
        Optional.of(
            new PullCredential(ref.apiHost(), ref.repository(), user, secret, token, expiresAt)),
        "");
  }

  /**
   * A registry named by a server address as docker config keys write it ({@code
   * https://index.docker.io/v1/}, {@code reg.example:5000}) or by an image's host: lower case, no
   * scheme or path, and Docker Hub's names as one.
   */
  static String registryName(String address) {
    String a = address.trim().toLowerCase(Locale.ROOT);
    int scheme = a.indexOf("://");
    if (scheme >= 0) {
      a = a.substring(scheme + 3);
    }
    int slash = a.indexOf('/');
    if (slash >= 0) {
      a = a.substring(0, slash);
    }
    return switch (a) {
      case "docker.io", "index.docker.io", "registry-1.docker.io" -> "docker.io";
      default -> a;
    };
  }

  private static String stripNuls(String s) {
    int end = s.length();
    while (end > 0 && s.charAt(end - 1) == '\0') {
      end--;
    }
    return s.substring(0, end);
  }

  private static String excerpt(String s) {
    String oneLine = s.replaceAll("\\p{Cntrl}", "?");
    return oneLine.length() > 80 ? oneLine.substring(0, 80) + "..." : oneLine;
  }
}
