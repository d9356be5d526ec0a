#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the daemon over its real socket with real mounts,
# containerd's own snapshotter suite, crash consistency, end to end with real containerd, runc and
# a registry, and the VM tier (Debian's kernel under qemu, for the kernel paths this host's kernel
# lacks: NBD, TCMU). Installs the Debian packages the tests need first (apt-get, as root), and
# fetches containerd 1.7 and 2.x (and what containerd 1.7's own suite needs) from newer Debian
# suites into a cache, unpacked next to the system's packages (test-support/fetch-debian-packages;
# once per machine). A package that cannot be had fails the run here, with the reason.
#
#   OBD_TEST_VM=0 ./test.sh   leaves the VM tier (about 4 minutes) out
#   ./test.sh              tests that need root or a missing tool skip with a message
#   ./test.sh --no-skip    such a skip fails instead (CI)
#   ./test.sh --no-skip -Dtest=BadInputTest -Dsurefire.failIfNoSpecifiedTests=false
#                          extra arguments go to Maven
set -euo pipefail
cd "$(dirname "$0")"

no_skip=false
if [ "${1:-}" = --no-skip ]; then
  no_skip=true
  shift
fi

packages=(
  # build and the daemon's native libraries
  maven
  # fetching and unpacking the containerd versions of the test matrix (flock is util-linux's)
  apt dpkg debian-archive-keyring
  # real parts the tests drive
  containerd runc docker-registry skopeo busybox-static curl
  e2fsprogs util-linux fuse3 libnbd-bin qemu-utils
  # registry authentication in the data plane's tests (htpasswd, TLS certificates)
  apache2-utils openssl
  # systemd-analyze verify of the unit files
  systemd
  # the filesystems OverlayBD layers may declare, formatted and mounted for real
  xfsprogs erofs-utils
)
vm=${OBD_TEST_VM:-1}
if [ "$vm" != 0 ]; then
  # the VM tier: a Debian kernel with nbd, target_core_user and tcm_loop booted under qemu, and
  # tcmu-runner standing in for overlaybd-tcmu as the TCMU handler
  packages+=(qemu-system-x86 linux-image-amd64 cpio kmod tcmu-runner)
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The packages from other Debian suites (containerd 1.7 and 2.x, Go 1.23, the sources of containerd
# 1.7's suite) are fetched while Maven builds and runs the modules that do not need them; a test
# that needs them waits for the fetch (its pid is in $cache/.fetching), and a fetch that fails
# fails the run with its reason.
cache=${OBD_TEST_CACHE:-/var/cache/obd-snapshotter-tests}
$sudo mkdir -p "$cache"
$sudo test-support/fetch-debian-packages >"$cache/fetch.log" 2>&1 &
fetch=$!
echo "$fetch" | $sudo tee "$cache/.fetching" >/dev/null

groups=()
[ "$vm" = 0 ] || groups=(-Dobd.test.excludedGroups=none)
rc=0
mvn -B -ntp verify -Dobd.test.noSkip="$no_skip" "${groups[@]}" "$@" || rc=$?
if ! wait "$fetch"; then
  echo "test.sh: fetching the Debian packages of other suites failed:" >&2
  tail -n 20 "$cache/fetch.log" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
