#!/bin/bash
# Builds the boot test's cached base: a Debian 12 root file system with
# systemd as init and the cloud kernel, as an ext4 image made without
# mounting anything (mkfs.ext4 -d), plus that kernel's vmlinuz and initrd
# taken from the root's own /boot, so modules and kernel always match.
#
#   mkrootfs.sh CACHEDIR     prints the base directory it made or found
#
# The base's name carries a hash of this recipe (this file and image/), so
# it is built once per machine and again only when the recipe changes.
# Needs root (debootstrap) and the machine's apt mirror.
set -euo pipefail

die() { echo "boot mkrootfs: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: mkrootfs.sh CACHEDIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

hash=$(cat "$here/mkrootfs.sh" "$here"/image/* | sha256sum | cut -c1-12)
base=$cache/base-$hash
if [ -e "$base/.done" ]; then
	echo "$base"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "building the base needs root (debootstrap); run as root once"
command -v debootstrap >/dev/null || die "debootstrap missing (tests/install-deps.sh installs it)"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing (e2fsprogs)"

# The same mirror apt uses here: a one-line sources.list entry or a
# deb822 URIs: field.
mirror=$(grep -rhoE '^deb(\s+\[[^]]*\])?\s+\S+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	awk '{ print $NF }' | head -n 1) || true
[ -n "$mirror" ] || mirror=$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '{ print $2 }' | head -n 1) || true
[ -n "$mirror" ] || die "no apt mirror found in /etc/apt/sources.list*"

# Old bases of earlier recipes are only disk space now.
find "$cache" -maxdepth 1 -name 'base-*' ! -name "base-$hash" -exec rm -rf {} +
rm -rf "$base"
mkdir -p "$base"
root=$base/root
log=$base/build.log
echo "boot mkrootfs: debootstrap bookworm from $mirror into $root (once per recipe; log $log)" >&2
# jq reads vram-swap-status --json; dbus lets systemctl suspend go through
# logind as on a real machine.
pkgs=systemd-sysv,udev,kmod,nbd-client,util-linux,procps,e2fsprogs,jq,dbus,linux-image-cloud-amd64,initramfs-tools
debootstrap --variant=minbase --include="$pkgs" bookworm "$root" "$mirror" >"$log" 2>&1 ||
	die "debootstrap failed; last lines: $(tail -n 5 "$log")"

echo vram-swap-boot >"$root/etc/hostname"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' >"$root/etc/fstab"
# No password is ever typed: the test runs from a unit, and the serial
# console stays for the kernel and the test's lines.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
# The guest never reaches a network; apt inside it only removes.
ln -sf /dev/null "$root/etc/systemd/system/apt-daily.timer"
ln -sf /dev/null "$root/etc/systemd/system/apt-daily-upgrade.timer"
install -m 0644 "$here/image/boot-e2e.service" "$root/etc/systemd/system/boot-e2e.service"
install -m 0755 "$here/image/boot-e2e-start" "$root/usr/local/sbin/boot-e2e-start"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../boot-e2e.service "$root/etc/systemd/system/multi-user.target.wants/boot-e2e.service"
# A journal on disk, so that a failed run's guest log survives for reading.
mkdir -p "$root/var/log/journal"
rm -f "$root"/var/cache/apt/archives/*.deb

kver=$(find "$root/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[ -n "$kver" ] || die "the root has no kernel in /boot"
[ -s "$root/boot/initrd.img-$kver" ] || die "the root has no initrd for $kver"
[ -d "$root/lib/modules/$kver" ] || die "the root has no modules for $kver"
cp "$root/boot/vmlinuz-$kver" "$base/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$base/initrd.img"
echo "$kver" >"$base/kernel-version"

mkfs.ext4 -q -F -L vsroot -d "$root" "$base/rootfs.img" 2G >>"$log" 2>&1 ||
	die "mkfs.ext4 -d failed; last lines: $(tail -n 5 "$log")"
rm -rf "$root"
touch "$base/.done"
echo "$base"
