package dev.obd.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import dev.obd.configfile.BoundedJsonFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * Runs docker credential helpers, {@code docker-credential-<name> get} with the registry's server
 * URL on stdin, as docker does for {@code credHelpers} and {@code credsStore} in its {@code
 * config.json}. The name comes from a file the operator wrote but is still checked to be a plain
 * name ({@code [a-zA-Z0-9._-]+}), never a path; the program is looked up in the search path only.
 * Every run ends by the deadline (the process is killed). Answers are cached: found credentials for
 * {@link #FOUND_TTL}, "not found" for {@link #NOT_FOUND_TTL}, a failure for {@link #FAILED_TTL}, so
 * a data-plane read does not start a process each time and a refusal is asked again soon.
 * Thread-safe.
 *
 * <p>The helper's stdout holds the secret: it is parsed and never shown; its stderr (cut to one
 * line) goes into the error message, as docker shows it.
 */
final class CredentialHelpers {
  static final Pattern NAME = Pattern.compile("[a-zA-Z0-9._-]+");
  static final Duration FOUND_TTL = Duration.ofMinutes(5);
  static final Duration NOT_FOUND_TTL = Duration.ofSeconds(30);
  static final Duration FAILED_TTL = Duration.ofSeconds(5);
  private static final int MAX_OUTPUT = 64 << 10;
  private static final ObjectMapper JSON = BoundedJsonFile.mapper(8);

  private final String searchPath;
  private final Duration deadline;
  private final Cache<String, Answer> answers = ExpiringCache.build(1_000, Answer::ttl);

  /**
   * @param searchPath directories to find {@code docker-credential-<name>} in, {@code :}-separated
   *     as {@code PATH}; also the helper's own {@code PATH}
   */
  CredentialHelpers(String searchPath, Duration deadline) {
    this.searchPath = searchPath == null ? "" : searchPath;
    this.deadline = deadline;
  }

  /** Helpers found on the daemon's {@code PATH}, each run given 10 s. */
  static CredentialHelpers fromEnvironment() {
    return new CredentialHelpers(System.getenv("PATH"), Duration.ofSeconds(10));
  }

  /** The result of one run: credentials, none ("not found"), or a failure's message. */
  private record Answer(
      Optional<Credentials> credentials, String failure, boolean transientFailure) {
    Duration ttl() {
      if (failure != null) {
        return FAILED_TTL;
      }
      return credentials.isPresent() ? FOUND_TTL : NOT_FOUND_TTL;
    }
  }

  /**
   * What helper {@code name} has for {@code serverUrl}.
   *
   * @throws RegistryDeniedException the name is not a plain name, the helper is not found, it
   *     failed or answered something else than its JSON
   * @throws RegistryUnavailableException it gave no answer by the deadline
   */
  Optional<Credentials> get(String name, String serverUrl) throws RegistryException {
    String program = "docker-credential-" + name;
    if (!NAME.matcher(name).matches()) {
      throw new RegistryDeniedException(
          "credential helper name '"
              + BoundedJsonFile.oneLine(name, 100)
              + "' is not a plain name ([a-zA-Z0-9._-]+)");
    }
    Answer a = answers.get(name + "\n" + serverUrl, k -> run(program, serverUrl));
    if (a.failure() != null) {
      throw a.transientFailure()
          ? new RegistryUnavailableException(a.failure(), null)
          : new RegistryDeniedException(a.failure());
    }
    return a.credentials();
  }

  private Answer run(String program, String serverUrl) {
    String what = "credential helper " + program + " get " + serverUrl;
    Path exe = find(program);
    if (exe == null) {
      return failed(what + ": not found on the search path " + searchPath, false);
    }
    ProcessBuilder pb = new ProcessBuilder(exe.toString(), "get");
    pb.environment().put("PATH", searchPath);
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      return failed(what + ": cannot start: " + e.getMessage(), false);
    }
    try {
      CompletableFuture<byte[]> out = drainInThread(p.getInputStream());
      CompletableFuture<byte[]> err = drainInThread(p.getErrorStream());
      try (OutputStream in = p.getOutputStream()) {
        in.write(serverUrl.getBytes(StandardCharsets.UTF_8));
      } catch (IOException e) {
        // a helper that exits without reading stdin: its exit status tells
      }
      if (!p.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        return failed(what + ": no answer within " + deadline.toMillis() + " ms", true);
      }
      byte[] stdout = out.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
      String stderr =
          BoundedJsonFile.oneLine(
              new String(
                      err.get(deadline.toMillis(), TimeUnit.MILLISECONDS), StandardCharsets.UTF_8)
                  .trim(),
              300);
      if (p.exitValue() != 0) {
        // docker's helpers say so on stdout; its text is the protocol and carries no secret
        String said = new String(stdout, StandardCharsets.UTF_8);
        if (said.contains("credentials not found") || stderr.contains("credentials not found")) {
          return new Answer(Optional.empty(), null, false);
        }
        return failed(
            what + ": exit status " + p.exitValue() + (stderr.isEmpty() ? "" : ": " + stderr),
            false);
      }
      return parse(what, stdout);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return failed(what + ": interrupted", true);
    } catch (ExecutionException | TimeoutException e) {
      return failed(what + ": its output could not be read", true);
    } finally {
      p.destroyForcibly();
    }
  }

  private static Answer parse(String what, byte[] stdout) {
    JsonNode json;
    try {
      json = JSON.readTree(stdout);
    } catch (IOException e) {
      // never the text: it may hold the secret
      return failed(what + ": its answer is not JSON", false);
    }
    if (json == null || !json.isObject()) {
      return failed(what + ": its answer is not a JSON object", false);
    }
    String user = json.path("Username").asText("");
    String secret = json.path("Secret").asText("");
    if (secret.isEmpty()) {
      return new Answer(Optional.empty(), null, false);
    }
    Credentials c =
        user.equals(Credentials.IDENTITY_TOKEN_USER)
            ? Credentials.identityToken(secret)
            : new Credentials(user, secret);
    return new Answer(Optional.of(c), null, false);
  }

  private static Answer failed(String message, boolean transientFailure) {
    return new Answer(Optional.empty(), message, transientFailure);
  }

  private Path find(String program) {
    for (String dir : searchPath.split(":")) {
      if (dir.isEmpty() || !dir.startsWith("/")) {
        continue; // a relative PATH entry would depend on the daemon's working directory
      }
      Path p = Path.of(dir, program);
      if (Files.isRegularFile(p) && Files.isExecutable(p)) {
        return p;
      }
    }
    return null;
  }

  /** Each stream on its own thread: a helper that fills one pipe must not block the other. */
  private static CompletableFuture<byte[]> drainInThread(InputStream in) {
    CompletableFuture<byte[]> f = new CompletableFuture<>();
    Thread t = new Thread(() -> f.complete(drain(in)), "credential-helper-output");
    t.setDaemon(true);
    t.start();
    return f;
  }

  private static byte[] drain(InputStream in) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try (in) {
      int n;
      while ((n = in.read(buf)) > 0) {
        if (out.size() < MAX_OUTPUT) {
          out.write(buf, 0, Math.min(n, MAX_OUTPUT - out.size()));
        }
      }
    } catch (IOException e) {
      // the process was killed: what arrived is all there is
    }
    return out.toByteArray();
  }
}
