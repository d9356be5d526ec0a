package dev.obd.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

/**
 * The token server's half of a Bearer challenge, as docker's token spec describes it: the request
 * for a token (Basic credentials, an identity token's refresh grant, or anonymous) and the reading
 * of its answer. Shared by the blob reader and the image client; neither puts a secret into a
 * message.
 */
final class TokenExchange {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** How long Basic credentials, and a token without {@code expires_in}, are used unasked. */
  static final Duration DEFAULT_TTL = Duration.ofSeconds(60);

  /** The longest a token is used, whatever its {@code expires_in}. */
  static final Duration MAX_TTL = Duration.ofHours(1);

  private TokenExchange() {}

  /** A token and how long to use it. */
  record Token(String header, Duration ttl) {
    @Override
    public String toString() {
      return "Token[<hidden>]";
    }
  }

  /** Whether {@code challenge} can be answered with a token request. */
  static boolean answerable(AuthChallenge challenge) {
    return challenge.isBearer() && challenge.params().containsKey("realm");
  }

  /**
   * The Authorization header answering a Basic challenge for repository {@code repo} with {@code
   * creds}.
   *
   * @throws RegistryDeniedException when there are none, or only an identity token
   */
  static String basicHeader(Optional<Credentials> creds, String what, String repo)
      throws RegistryDeniedException {
    Credentials c =
        creds.orElseThrow(
            () ->
                new RegistryDeniedException(
                    what
                        + ": registry requires authentication and no credentials are configured"
                        + " for "
                        + repo));
    if (c.isIdentityToken()) {
      throw new RegistryDeniedException(
          what + ": registry asks for Basic auth, which an identity token cannot answer");
    }
    return c.basicHeader();
  }

  /** Fails unless {@code challenge} is Bearer with a realm, which a token request answers. */
  static void requireAnswerable(AuthChallenge challenge, String what)
      throws RegistryDeniedException {
    if (!answerable(challenge)) {
      throw new RegistryDeniedException(
          what + ": unsupported auth challenge '" + challenge.scheme() + "'");
    }
  }

  /**
   * The request for a token answering {@code challenge}, for {@code defaultScope} when the
   * challenge names no scope.
   *
   * @param clientId how the refresh-token grant names this program
   */
  static HttpRequest request(
      AuthChallenge challenge,
      Optional<Credentials> creds,
      String defaultScope,
      String clientId,
      Duration timeout) {
    String realm = challenge.params().get("realm");
    String service = challenge.params().getOrDefault("service", "");
    String scope = challenge.params().getOrDefault("scope", defaultScope);
    URI tokenUri =
        URI.create(
            realm
                + (realm.contains("?") ? "&" : "?")
                + "service="
                + enc(service)
                + "&scope="
                + enc(scope));
    HttpRequest.Builder tb = HttpRequest.newBuilder(tokenUri).timeout(timeout);
    if (creds.isPresent() && creds.get().isIdentityToken()) {
      // docker's OAuth2 refresh-token grant: the identity token buys an access token
      tb.uri(URI.create(realm))
          .header("Content-Type", "application/x-www-form-urlencoded")
          .POST(
              HttpRequest.BodyPublishers.ofString(
                  "grant_type=refresh_token&client_id="
                      + enc(clientId)
                      + "&service="
                      + enc(service)
                      + "&scope="
                      + enc(scope)
                      + "&refresh_token="
                      + enc(creds.get().password())));
    } else {
      tb.GET();
      creds.ifPresent(c -> tb.header("Authorization", c.basicHeader()));
    }
    return tb.build();
  }

  /**
   * The token of the token server's answer.
   *
   * @param what the operation, for messages
   * @param repository host/repository the credentials were looked up for, for messages
   * @throws RegistryException a refusal, or an answer without a token
   */
  static Token read(
      HttpResponse<byte[]> answer, Optional<Credentials> creds, String what, String repository)
      throws IOException {
    int status = answer.statusCode();
    if (status != 200) {
      throw RegistryException.answered(
          RegistryException.Endpoint.TOKEN,
          what,
          "token server",
          status,
          status == 401 || status == 403
              ? creds
                  .map(c -> "authentication failed for " + c.describe())
                  .orElse("anonymous access refused; no credentials configured for " + repository)
              : "");
    }
    JsonNode json;
    try {
      json = JSON.readTree(answer.body());
    } catch (IOException e) {
      // never the body: it holds a token when it is almost right
      throw new RegistryUnavailableException(what + ": token server's answer is not JSON", null);
    }
    String token =
        json.hasNonNull("token")
            ? json.get("token").asText()
            : json.path("access_token").asText("");
    if (token.isEmpty()) {
      throw new RegistryDeniedException(what + ": token server sent no token");
    }
    return new Token("Bearer " + token, lifetime(json.path("expires_in")));
  }

  /**
   * How long to use a token the token server says lasts {@code expiresIn} seconds: until a fifth of
   * that (at most 10 s) before it ends, so a request is not sent with a token about to expire; 60 s
   * when the server does not say (the token spec's default), at most {@link #MAX_TTL}.
   */
  static Duration lifetime(JsonNode expiresIn) {
    if (!expiresIn.isNumber() || expiresIn.asDouble() <= 0) {
      return DEFAULT_TTL;
    }
    long millis = (long) (expiresIn.asDouble() * 1000);
    long margin = Math.min(10_000, millis / 5);
    return Duration.ofMillis(Math.min(millis - margin, MAX_TTL.toMillis()));
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
