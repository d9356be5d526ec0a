package dev.obd.backstore.attach;

import java.io.IOException;

/** An attach or detach step failed; the message says which step and why. */
public class AttachException extends IOException {
  public AttachException(String message) {
    super(message);
  }

  public AttachException(String message, Throwable cause) {
    super(message, cause);
  }
}
