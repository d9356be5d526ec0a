package dev.obd.registry;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Objects;

/**
 * A registry user name and secret, or an identity token (docker's {@code <token>} user name: the
 * secret is an OAuth2 refresh token for the registry's token server, not a password). {@link
 * #toString} and {@link #describe} never show the secret, so a record that ends up in a log or an
 * exception message leaks nothing.
 */
public record Credentials(String username, String password) {
  public Credentials {
    Objects.requireNonNull(username);
    Objects.requireNonNull(password);
  }

  /** The user name docker's credential helpers and config.json give an identity token. */
  static final String IDENTITY_TOKEN_USER = "<token>";

  /** An identity token (a refresh token for the token server). */
  static Credentials identityToken(String token) {
    return new Credentials(IDENTITY_TOKEN_USER, token);
  }

  /** Whether the secret is an identity token rather than a password. */
  boolean isIdentityToken() {
    return username.equals(IDENTITY_TOKEN_USER);
  }

  /** For messages: {@code user 'alice'} or {@code an identity token}; never the secret. */
  String describe() {
    return isIdentityToken() ? "an identity token" : "user '" + username + "'";
  }

  /** Parses upstream's {@code auth} field, base64("user:pass"). */
  static Credentials fromAuth(String auth) {
    String decoded = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
    int colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("auth field is not base64(user:password)");
    }
    return new Credentials(decoded.substring(0, colon), decoded.substring(colon + 1));
  }

  /** The value of an HTTP Basic Authorization header. */
  String basicHeader() {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String toString() {
    return isIdentityToken()
        ? "Credentials[identity token <hidden>]"
        : "Credentials[username=" + username + ", password=<hidden>]";
  }
}
