package dev.obd.backstore.device;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.obd.backstore.attach.Attachment;
import java.util.Objects;

/**
 * What the daemon remembers about an attached device across its own restarts.
 *
 * @param id the device id (stable for a config path)
 * @param config absolute path of the device's config.v1.json
 * @param attachment where the kernel sees it
 * @param createdMillis when it was first attached (epoch milliseconds)
 */
record DeviceRecord(
    @JsonProperty("id") String id,
    @JsonProperty("config") String config,
    @JsonProperty("attachment") Attachment attachment,
    @JsonProperty("createdMillis") long createdMillis) {
  DeviceRecord {
    Objects.requireNonNull(id);
    Objects.requireNonNull(config);
    Objects.requireNonNull(attachment);
  }
}
