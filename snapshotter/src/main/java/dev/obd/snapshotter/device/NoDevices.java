package dev.obd.snapshotter.device;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * The attacher of a snapshotter that serves no OverlayBD devices (the warm-up's scratch
 * snapshotter): every attach fails with the reason it was made with, nothing is ever attached.
 * Thread-safe.
 */
public final class NoDevices implements DeviceAttacher {
  private final String reason;

  /**
   * @param reason why no device is attached, the message of every attach failure
   */
  public NoDevices(String reason) {
    this.reason = reason;
  }

  @Override
  public String name() {
    return "none";
  }

  @Override
  public String attach(long id, Path config, Duration deadline) throws AttachException {
    throw new AttachException(reason);
  }

  @Override
  public void detach(long id, Path config, Duration deadline) {}

  @Override
  public Map<Long, AttachedDevice> attached(Duration deadline) {
    return Map.of();
  }
}
