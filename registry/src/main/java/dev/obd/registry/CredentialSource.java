package dev.obd.registry;

import java.io.IOException;
import java.util.Optional;

/**
 * Where {@link RegistryClient} gets the credentials for a blob's registry once the registry asks
 * for them (a 401 challenge): files ({@link CredentialStore}), an auth server ({@link
 * AuthServerSource}), docker credential helpers, or several in turn ({@link #inTurn}).
 * Implementations are thread-safe and never put a secret into a log line or an exception message.
 */
public interface CredentialSource {
  /**
   * The credentials for {@code blob}, or empty when this source has none for it (the registry is
   * then asked anonymously).
   *
   * @throws RegistryException when the source could not answer: {@link
   *     RegistryUnavailableException} if asking again may work (an auth server that is down), which
   *     the client retries until the read deadline; {@link RegistryDeniedException} if not
   */
  Optional<Credentials> lookup(BlobUrl blob) throws IOException;

  /** Reads or checks what can be checked at start, so a problem is reported before a pull. */
  default void refresh() {}

  /** The first of {@code sources} (in order) that has credentials for a blob answers. */
  static CredentialSource inTurn(CredentialSource... sources) {
    CredentialSource[] all = sources.clone();
    return new CredentialSource() {
      @Override
      public Optional<Credentials> lookup(BlobUrl blob) throws IOException {
        for (CredentialSource s : all) {
          Optional<Credentials> c = s.lookup(blob);
          if (c.isPresent()) {
            return c;
          }
        }
        return Optional.empty();
      }

      @Override
      public void refresh() {
        for (CredentialSource s : all) {
          s.refresh();
        }
      }
    };
  }
}
