#!/bin/bash
# Runs chrooted in the VM (host userland, guest kernel with target_core_user, tcm_loop, sd_mod).
# @NAME@ placeholders are filled by TcmuVmTest. Every step appends a line to result.txt on the
# results share; TcmuVmGuest (the attacher, the snapshotter, containerd under it) appends its own.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
OUT=/mnt/obd-out
T=/run/tcmu
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "$(up) $*" >> $OUT/result.txt; }
mount -t configfs configfs /sys/kernel/config && log "configfs $(cat /sys/kernel/config/target/version)"
# runc puts containers into cgroup2; containerd keeps its state on the guest's tmpfs (/run)
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p $T /run/obd
# tcmu-runner's qcow handler opens the image read-write: give it a copy on the guest's tmpfs
cp @QCOW2@ $T/image.qcow2
# Level 4 (DEBUG) logs dbus_name_lost/acquired once the main loop runs, after tcmu-runner has
# joined the netlink family: that line is the readiness signal. No dbus here; it does not need one.
# /etc is the guest's overlay: the host's file stays as it is.
echo "log_level = 4" > /etc/tcmu/tcmu.conf
tcmu-runner -l $T >> $OUT/tcmu-runner.out 2>&1 &
RUNNER=$!
for i in $(seq 600); do
  grep -q 'dbus_name_\(lost\|acquired\)' $T/tcmu-runner.log 2>/dev/null && break
  kill -0 $RUNNER 2>/dev/null || break
  sleep 0.1
done
grep -q 'dbus_name_\(lost\|acquired\)' $T/tcmu-runner.log && log "runner ready"
# one JVM for everything: TCG runs Java 25-30 times slower
timeout 840 java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "@CLASSPATH@" \
  dev.obd.snapshotter.device.TcmuVmGuest $T/image.qcow2 $T/missing.qcow2 $OUT @OBD_IMAGE@ \
  >> $OUT/guest-java.log 2>&1
log "guest-exit $?"
cp /run/obd/containerd/containerd.log $OUT/containerd.log 2>/dev/null
kill $RUNNER; wait $RUNNER
tail -n 500 $T/tcmu-runner.log > $OUT/tcmu-runner.log
log "script-done"
