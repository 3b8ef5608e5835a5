#!/bin/bash
# Builds the end-to-end guest's initramfs from Debian's own binaries, the
# Debian kernel's modules and a directory of project files.
#
#   mkinitramfs.sh KERNELDIR PROJECTROOT OUT.cpio.gz
#
# KERNELDIR is what fetch-kernel.sh printed. PROJECTROOT is a directory
# laid out like the guest's / (the project's programs, scripts, defaults
# file, the guest test): it is copied over the base, and every ELF file in
# it gets its libraries too. The whole image stays in guest RAM, so it
# holds only what the test runs.
set -euo pipefail

die() { echo "mkinitramfs: $*" >&2; exit 1; }

kdir=${1:?usage: mkinitramfs.sh KERNELDIR PROJECTROOT OUT.cpio.gz}
proj=${2:?usage: mkinitramfs.sh KERNELDIR PROJECTROOT OUT.cpio.gz}
out=${3:?usage: mkinitramfs.sh KERNELDIR PROJECTROOT OUT.cpio.gz}
kdir=$(cd "$kdir" && pwd)
proj=$(cd "$proj" && pwd)
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# Real tools where the scripts or the test need the real thing (busybox
# swapon has no -p; nbd-client and kmod have no busybox equivalent worth
# trusting); busybox-static for everything else.
BINS="/usr/bin/bash /usr/bin/kmod /usr/sbin/nbd-client /usr/sbin/swapon
 /usr/sbin/swapoff /usr/sbin/mkswap /usr/bin/flock /usr/bin/timeout
 /usr/bin/stat /usr/bin/sha256sum /usr/bin/setsid ${E2E_EXTRA_BINS:-}"
# nbd needs nothing else; virtio_net and virtio_pci are for the variant
# whose daemon runs on the host, reached over qemu's user network; zram
# (with its default compressor, lz4 and zstd) is what the page counts and
# the compression ratios are held to.
MODULES="nbd virtio_pci virtio_net zram lzo-rle lz4 zstd"

[ -x /usr/bin/busybox ] || die "busybox not found (install busybox-static)"
ldd /usr/bin/busybox >/dev/null 2>&1 &&
	die "/usr/bin/busybox is not static (install busybox-static)"
for b in $BINS; do [ -x "$b" ] || die "$b not found"; done
command -v cpio >/dev/null || die "cpio not found"
command -v depmod >/dev/null || die "depmod not found (install kmod)"

kver=$(basename "$(find "$kdir/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
[ -n "$kver" ] || die "no lib/modules/VERSION under $kdir"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cd "$stage"
mkdir -p usr/bin usr/sbin usr/lib/x86_64-linux-gnu usr/lib64 etc dev proc sys \
	run tmp mnt root var
ln -s usr/bin bin
ln -s usr/sbin sbin
ln -s usr/lib lib
ln -s usr/lib64 lib64
chmod 1777 tmp

# Map a host path to its place in the (merged-/usr) image.
img_path() {
	case $1 in
	/usr/*) echo "${1#/}" ;;
	*) echo "usr$1" ;;
	esac
}

# Copies an ELF file's libraries (as the host's loader resolves them).
add_libs() {
	local lib
	# ldd prints "name => /path (addr)" and "/lib64/ld-linux... (addr)"
	for lib in $(ldd "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
		[ -e "$(img_path "$lib")" ] && continue
		mkdir -p "$(dirname "$(img_path "$lib")")"
		cp -L "$lib" "$(img_path "$lib")"
	done
}

add_bin() {
	local dst
	dst=$(img_path "$1")
	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst"
	add_libs "$1"
}

cp /usr/bin/busybox usr/bin/busybox
for b in $BINS; do add_bin "$b"; done
for l in modprobe insmod rmmod lsmod depmod modinfo; do ln -s ../bin/kmod "usr/sbin/$l"; done
ln -s bash usr/bin/sh
# Every busybox applet not already provided by a real binary above.
for a in $(usr/bin/busybox --list-full); do
	case $a in usr/*) ;; *) a=usr/$a ;; esac
	[ -e "$a" ] || [ -L "$a" ] || ln -s /usr/bin/busybox "$a"
done

# Modules: the closure of what we load, per the kernel's own modules.dep.
mdir=lib/modules/$kver
mkdir -p "usr/$mdir"
depmod -b "$kdir" "$kver" 2>/dev/null || die "depmod failed on $kdir"
want=""
for m in $MODULES; do
	line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$kdir/$mdir/modules.dep") ||
		die "module $m not in $kver"
	want="$want ${line//:/}"
done
for rel in $want; do
	mkdir -p "usr/$mdir/$(dirname "$rel")"
	cp "$kdir/$mdir/$rel" "usr/$mdir/$rel"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -e "$kdir/$mdir/$f" ] && cp "$kdir/$mdir/$f" "usr/$mdir/"
done
depmod -b "$stage/usr" "$kver" || die "depmod failed on the image"

printf 'root:x:0:0:root:/root:/bin/bash\n' >etc/passwd
printf 'root:x:0:\n' >etc/group
: >etc/fstab

# The project's part, then its libraries, and those the daemon loads with
# dlopen for compression (ldd cannot see them).
cp -a "$proj"/. .
while IFS= read -r -d '' f; do
	if head -c 4 "$f" | grep -q 'ELF'; then add_libs "$f"; fi
done < <(find "$proj" -type f -print0)
# awk reads to the end: ldconfig writes its list in pieces, and an awk
# gone after the first would kill it with SIGPIPE, which pipefail makes
# the build's failure.
for l in liblz4.so.1 libzstd.so.1; do
	p=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ && !p { p = $NF } END { print p }')
	[ -n "$p" ] || die "$l not found (install liblz4-1 and libzstd1)"
	add_bin "$p"
done
[ -x init ] || die "$proj has no executable /init"

find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner 0:0 --quiet | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "mkinitramfs: $out ($(du -k "$out" | cut -f1) KiB, kernel $kver)" >&2
