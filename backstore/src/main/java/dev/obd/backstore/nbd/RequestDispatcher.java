package dev.obd.backstore.nbd;

import java.util.concurrent.ExecutorService;

/**
 * Where request work runs: disk reads may wait for the registry, so they never run on an event
 * loop. Shared by all connections of all exports of a process; owned by whoever created it.
 *
 * @param executor runs disk I/O; many requests of one connection run at once
 * @param stats counters of the export this dispatcher serves
 */
record RequestDispatcher(ExecutorService executor, IoStats stats) {}
