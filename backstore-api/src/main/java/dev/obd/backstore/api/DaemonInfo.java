package dev.obd.backstore.api;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * The daemon as a whole: which attach path it uses and its registry and cache counters.
 *
 * @param attachMode "nbd" or "fuse"
 * @param devices number of devices
 * @param registryBytes blob bytes fetched from registries since start
 * @param registryRequests HTTP requests sent to registries since start
 * @param cacheHits chunk reads served from the range cache
 * @param cacheMisses chunk reads that went to the registry
 * @param cacheCorrupt damaged cache chunks or blobs detected (and refetched)
 * @param cacheUsedBytes bytes the range cache holds
 * @param cacheCapacityBytes the cache's size bound
 * @param pid the daemon's process id
 * @param startedAt when the daemon started, in milliseconds since the epoch; with {@code pid} it
 *     tells a client that the daemon was restarted and lost what it kept in memory only (pushed
 *     credentials). 0 from a daemon too old to say.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record DaemonInfo(
    @JsonProperty("attachMode") String attachMode,
    @JsonProperty("devices") int devices,
    @JsonProperty("registryBytes") long registryBytes,
    @JsonProperty("registryRequests") long registryRequests,
    @JsonProperty("cacheHits") long cacheHits,
    @JsonProperty("cacheMisses") long cacheMisses,
    @JsonProperty("cacheCorrupt") long cacheCorrupt,
    @JsonProperty("cacheUsedBytes") long cacheUsedBytes,
    @JsonProperty("cacheCapacityBytes") long cacheCapacityBytes,
    @JsonProperty("pid") long pid,
    @JsonProperty("startedAt") long startedAt) {

  /** Which run of the daemon answered: differs after every restart. */
  public String instance() {
    return pid + "@" + startedAt;
  }
}
