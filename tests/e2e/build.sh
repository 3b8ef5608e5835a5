#!/bin/bash
# Builds everything the end-to-end guest boots with, into build/e2e/:
#   vmlinuz      the Debian kernel (fetch-kernel.sh, cached in tests/e2e/cache/)
#   initrd.gz    Debian binaries + nbd modules + the project's programs,
#                scripts and defaults file, installed where a package puts
#                them, + the guest test
#   e2e-hog, uds-bridge   the test's two small helper programs
# and puts a static fio (fetch-fio.sh, cached there too) in the image.
# Run from the top of the source tree after `make` (build/vram-swapd).
set -euo pipefail

die() { echo "e2e build: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
here=tests/e2e
out=${E2E_BUILD:-build/e2e}
cache=${E2E_CACHE:-$here/cache}

[ -x build/vram-swapd ] || die "build/vram-swapd missing: run make first"

mkdir -p "$out"
cc=${CC:-cc}
# Static, so the guest and the GPU machine need no libraries for them.
$cc -O2 -std=c11 -Wall -Wextra -Werror -static -o "$out/e2e-hog" "$here/hog.c"
$cc -O2 -std=c11 -Wall -Wextra -Werror -static -o "$out/uds-bridge" "$here/uds-bridge.c"

kdir=$("$here/fetch-kernel.sh" "$cache") || die "no kernel (see above)"
cp "$(find "$kdir/boot" -name 'vmlinuz-*' | head -n 1)" "$out/vmlinuz"

root=$(cd "$out" && pwd)/root
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/e2e" "$root/var/log"
# Installed the way a package installs them (docs/DESIGN.md layout):
# programs in /usr/sbin, the library in /usr/lib/vram-swap, the defaults
# file in /etc/default/vram-swap (the guest rewrites it per round).
make -s install-daemon install-scripts install-systemd DESTDIR="$root" \
	PREFIX=/usr LIBEXECDIR=/usr/lib/vram-swap SYSCONFDIR=/etc >/dev/null ||
	die "make install into $root failed"
install -m 0755 "$out/e2e-hog" "$root/usr/bin/e2e-hog"
fio=$("$here/fetch-fio.sh" "$cache") || die "no fio (see above)"
install -m 0755 "$fio" "$root/usr/bin/fio"
install -m 0755 "$here/guest/init" "$root/init"
install -m 0755 "$here/guest/e2e-guest.sh" "$root/e2e/e2e-guest.sh"
# What real programs hold in memory, for the compression ratios held to
# zram's (a local-mode step; E2E_WORKLOADS=0 leaves them out of the image).
if [ "${E2E_WORKLOADS:-1}" != 0 ]; then
	/usr/bin/python3 "$here/workloads.py" "$root/e2e/workloads" 24 ||
		die "could not make the workload images"
fi

"$here/mkinitramfs.sh" "$kdir" "$root" "$out/initrd.gz"
