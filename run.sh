#!/usr/bin/env bash
# Builds obd-snapshotter and runs it in the foreground with its embedded defaults: the snapshotter
# on /run/overlaybd-snapshotter/overlaybd.sock with its data under
# /var/lib/containerd/io.containerd.snapshotter.v1.overlaybd (or what
# /etc/overlaybd-snapshotter/config.json says), and next to it obd-backstore, the data plane that
# serves OverlayBD images as block devices (/run/obd-backstore/backstore.sock; OBD_NO_BACKSTORE=1
# leaves it out, e.g. when its systemd unit runs it). Needs root. Ctrl-C stops both. Extra
# arguments go to the snapshotter, e.g. ./run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")"
mvn -B -q -ntp -DskipTests install -pl distribution -am
dist=$(echo distribution/target/obd-snapshotter-*/obd-snapshotter-*)
if [ -z "${OBD_NO_BACKSTORE:-}" ]; then
  "$dist/bin/obd-backstore" &
  backstore=$!
  trap 'kill -TERM "$backstore" 2>/dev/null; wait "$backstore" 2>/dev/null || true' EXIT
fi
"$dist/bin/obd-snapshotter" "$@"
