#!/usr/bin/env bash
# Builds obd-snapshotter and runs the daemon in the foreground with its embedded defaults:
# root /var/lib/containerd/io.containerd.snapshotter.v1.overlaybd, socket
# /run/overlaybd-snapshotter/overlaybd.sock (or what /etc/overlaybd-snapshotter/config.json
# says). Needs root. Extra arguments go to the daemon, e.g. ./run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")"
mvn -B -q -ntp -DskipTests install -pl distribution -am
exec distribution/target/obd-snapshotter-*/obd-snapshotter-*/bin/obd-snapshotter "$@"
