package dev.obd.registry;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A parsed {@code WWW-Authenticate} header: {@code Basic realm=...} or {@code Bearer
 * realm=...,service=...,scope=...}.
 */
record AuthChallenge(String scheme, Map<String, String> params) {
  private static final Pattern PARAM = Pattern.compile("(\\w+)=(?:\"([^\"]*)\"|([^,\\s]*))");

  static Optional<AuthChallenge> parse(String header) {
    if (header == null || header.isBlank()) {
      return Optional.empty();
    }
    String h = header.trim();
    int space = h.indexOf(' ');
    String scheme = (space < 0 ? h : h.substring(0, space)).toLowerCase(Locale.ROOT);
    Map<String, String> params = new LinkedHashMap<>();
    if (space > 0) {
      Matcher m = PARAM.matcher(h.substring(space + 1));
      while (m.find()) {
        params.put(
            m.group(1).toLowerCase(Locale.ROOT), m.group(2) != null ? m.group(2) : m.group(3));
      }
    }
    return Optional.of(new AuthChallenge(scheme, Map.copyOf(params)));
  }

  boolean isBearer() {
    return scheme.equals("bearer");
  }

  boolean isBasic() {
    return scheme.equals("basic");
  }
}
