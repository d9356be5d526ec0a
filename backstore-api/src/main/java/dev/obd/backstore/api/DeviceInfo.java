package dev.obd.backstore.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One device as the control API reports it.
 *
 * @param id the backstore's device id
 * @param config absolute path of the config.v1.json it was added with
 * @param device the block device to mount, e.g. {@code /dev/nbd3} or {@code /dev/loop7}
 * @param mode "nbd" (kernel nbd) or "fuse" (nbdfuse + loop)
 * @param state {@link DeviceState#ATTACHED}, or {@link DeviceState#BROKEN} when the kernel side
 *     could not be reconnected after a restart (then {@code error} says why; remove and add it
 *     again)
 * @param error why the device is broken, else ""
 * @param readOnly whether the device has no writable upper layer
 * @param size the device size in bytes
 * @param stats I/O counters since the daemon (re)started serving it
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record DeviceInfo(
    @JsonProperty("id") String id,
    @JsonProperty("config") String config,
    @JsonProperty("device") String device,
    @JsonProperty("mode") String mode,
    @JsonProperty("state") DeviceState state,
    @JsonProperty("error") String error,
    @JsonProperty("readOnly") boolean readOnly,
    @JsonProperty("size") long size,
    @JsonProperty("stats") Stats stats) {

  /** Per-device counters. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Stats(
      @JsonProperty("reads") long reads,
      @JsonProperty("bytesRead") long bytesRead,
      @JsonProperty("writes") long writes,
      @JsonProperty("bytesWritten") long bytesWritten,
      @JsonProperty("trims") long trims,
      @JsonProperty("flushes") long flushes,
      @JsonProperty("errors") long errors,
      @JsonProperty("inFlight") long inFlight,
      @JsonProperty("connections") long connections) {}
}
