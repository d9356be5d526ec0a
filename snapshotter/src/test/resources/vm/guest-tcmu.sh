#!/bin/bash
# Runs chrooted in the VM (host userland, guest kernel with target_core_user, tcm_loop, sd_mod).
# @NAME@ placeholders are filled by TcmuAttacherVmTest. Every step appends a line to result.txt on
# the results share; TcmuAttacherVmGuest (the attacher itself) appends its own.
OUT=/mnt/obd-out
T=/run/tcmu
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "$(up) $*" >> $OUT/result.txt; }
mount -t configfs configfs /sys/kernel/config && log "configfs $(cat /sys/kernel/config/target/version)"
mkdir -p $T
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
timeout 600 java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "@CLASSPATH@" \
  dev.obd.snapshotter.device.TcmuAttacherVmGuest $T/image.qcow2 $T/missing.qcow2 $OUT \
  >> $OUT/guest-java.log 2>&1
log "guest-exit $?"
kill $RUNNER; wait $RUNNER
tail -n 500 $T/tcmu-runner.log > $OUT/tcmu-runner.log
log "script-done"
