/**
 * Benchmarks. Each one measures obd-snapshotter next to a baseline run in the same invocation
 * (containerd's own overlayfs snapshotter, a raw disk image, a plain loop device) and reports the
 * ratio. Results are recorded in BENCHMARKS.md with the machine and the command.
 */
package dev.obd.bench;
