package dev.obd.registry;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Objects;

/**
 * A registry user name and secret. {@link #toString} never shows the secret, so a record that ends
 * up in a log or an exception message leaks nothing.
 */
public record Credentials(String username, String password) {
  public Credentials {
    Objects.requireNonNull(username);
    Objects.requireNonNull(password);
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
    return "Credentials[username=" + username + ", password=<hidden>]";
  }
}
