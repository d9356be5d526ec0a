package dev.obd.registry;

/**
 * The registry could not give the bytes now: no connection, no complete answer in time, a 5xx or
 * another unexpected status, a redirect without a target, a body that does not match the range
 * asked for. {@link RegistryClient} retries these until the read deadline and then throws one that
 * says how long it tried and the last reason.
 */
public final class RegistryUnavailableException extends RegistryException {
  private static final long serialVersionUID = 1L;

  RegistryUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
