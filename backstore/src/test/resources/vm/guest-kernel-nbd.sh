#!/bin/bash
# Runs chrooted in the VM (host userland, guest kernel with nbd). @NAME@ placeholders are filled
# by KernelNbdVmTest. Every step appends a line to result.txt on the results share.
OUT=/mnt/obd-out
D=/run/obd
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "$(up) $*" >> $OUT/result.txt; }
api() { curl -s --max-time 600 --unix-socket $D/run/backstore.sock "$@"; }
ip link set lo up 2>/dev/null
mkdir -p $D/img /mnt/img
cat > $D/backstore.json <<JSON
{"socket":"$D/run/backstore.sock","stateDir":"$D/state","runDir":"$D/run","attachMode":"nbd",
 "cacheConfig":{"cacheDir":"$D/cache"},"credentialFilePath":"$D/cred.json",
 "dockerConfigPath":"$D/docker.json","timeouts":{"deadConnectionSec":900,"attachMs":600000}}
JSON
cat > $D/img/config.v1.json <<JSON
{"repoBlobUrl":"","lowers":[{"file":"@BLOB@"}],"upper":{},"resultFile":"$D/img/init-debug.log"}
JSON
start() {
  java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -cp "@CLASSPATH@" \
    dev.obd.backstore.cli.BackstoreMain --config $D/backstore.json >> $OUT/daemon-$1.log 2>&1 &
  echo $! > $D/pid
  for i in $(seq 1200); do api http://x/v1/info > /dev/null && return 0; sleep 0.5; done
  return 1
}
[ -b /dev/nbd0 ] && log "nbd0 present" || log "nbd0 missing"
log "start"
start 1 && log "daemon1-up"
api -X POST -d "{\"config\":\"$D/img/config.v1.json\"}" http://x/v1/devices > $OUT/add.json
DEV=$(sed -n 's/.*"device":"\([^"]*\)".*/\1/p' $OUT/add.json)
log "device $DEV"
log "mode $(sed -n 's/.*"mode":"\([^"]*\)".*/\1/p' $OUT/add.json)"
log "resultfile $(cat $D/img/init-debug.log)"
mount -t ext4 -o ro "$DEV" /mnt/img && log "mounted"
log "hello-before $(sha256sum /mnt/img/hello | cut -d' ' -f1)"
kill -9 "$(cat $D/pid)"; log "killed"
sync; echo 3 > /proc/sys/vm/drop_caches
( sha256sum /mnt/img/hello | cut -d' ' -f1 > $D/during.txt ) &
R=$!
sleep 3
kill -0 $R 2>/dev/null && log "reader-waiting yes" || log "reader-waiting no"
start 2 && log "daemon2-up"
wait $R
log "hello-after-restart $(cat $D/during.txt)"
log "state $(api http://x/v1/devices | sed -n 's/.*"state":"\([^"]*\)".*/\1/p')"
umount /mnt/img && log "unmounted"
log "delete $(api -o /dev/null -w '%{http_code}' -X DELETE "http://x/v1/devices?key=$DEV")"
log "size-after-delete $(cat /sys/block/$(basename "$DEV")/size)"
kill "$(cat $D/pid)"; wait
log "done"
