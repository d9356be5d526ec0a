package dev.obd.backstore.config;

import java.io.IOException;

/**
 * The backstore's config file cannot be used. The message is one line naming the file and the
 * problem; {@code obd-backstore} prints it and exits 2, as obd-snapshotter does for its config.
 */
public final class BackstoreConfigException extends IOException {
  BackstoreConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
