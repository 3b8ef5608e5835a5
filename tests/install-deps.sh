#!/bin/sh
# Installs the Debian packages the test suite needs, when they are missing.
# As root it uses apt-get; otherwise it names what is missing and fails.
set -eu
PKGS="libnbd-bin python3-libnbd libnbd-dev fio nbd-client nbdkit clang
 libclang-rt-14-dev llvm bats bats-assert bats-support bats-file shellcheck
 rpm rpmlint lintian debhelper devscripts qemu-system-x86 busybox-static
 util-linux cpio gnuplot-nox systemd kmod fakeroot
 debootstrap qemu-utils e2fsprogs
 man-db bsdextrautils procps python3
 dpkg-dev pkgconf rpm2cpio cpio git gcc make libc6-dev build-essential"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing test packages:$missing" >&2
	echo "install-deps: run 'make check' as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
