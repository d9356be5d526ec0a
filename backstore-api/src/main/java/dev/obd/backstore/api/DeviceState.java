package dev.obd.backstore.api;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Whether a device serves I/O; on the wire the lower-case names "attached" and "broken". */
public enum DeviceState {
  /** Served: the kernel device reads and writes through the backstore. */
  ATTACHED("attached"),
  /**
   * The kernel side could not be reconnected after a restart; the device info's {@code error} says
   * why. Remove it and add it again.
   */
  BROKEN("broken");

  private final String wireName;

  DeviceState(String wireName) {
    this.wireName = wireName;
  }

  /** The name in the control API's JSON. */
  @JsonValue
  public String wireName() {
    return wireName;
  }

  /**
   * The state named {@code wireName} in the control API's JSON.
   *
   * @throws IllegalArgumentException for a name no daemon sends
   */
  @JsonCreator
  public static DeviceState ofWireName(String wireName) {
    for (DeviceState s : values()) {
      if (s.wireName.equals(wireName)) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown device state \"" + wireName + "\"");
  }

  @Override
  public String toString() {
    return wireName;
  }
}
