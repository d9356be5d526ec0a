package dev.obd.registry;

/**
 * The registry or its token server refused access (401 or 403 after authenticating, or a challenge
 * that cannot be answered: none, an unsupported scheme, no credentials, no token): retrying with
 * the same credentials gives the same answer. The message names the user, or says that none is
 * configured for the repository; never a password or a token.
 */
public final class RegistryDeniedException extends RegistryException {
  private static final long serialVersionUID = 1L;

  RegistryDeniedException(String message) {
    super(message, null);
  }
}
