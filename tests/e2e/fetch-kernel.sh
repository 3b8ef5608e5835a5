#!/bin/bash
# Gets a Debian kernel for the end-to-end guest and prints the directory
# it was unpacked into (holding boot/vmlinuz-* and lib/modules/VERSION).
#
#   fetch-kernel.sh CACHEDIR
#
# The package comes from apt and nothing else (`apt-get download`, so the
# machine's own sources and signatures apply) and is kept in CACHEDIR, so
# a rerun works offline. E2E_KERNEL_PKG names another image package
# (default: whatever linux-image-cloud-amd64 currently depends on; the
# cloud flavour is small and has nbd and virtio as modules).
set -euo pipefail

die() { echo "fetch-kernel: $*" >&2; exit 1; }

cache=${1:?usage: fetch-kernel.sh CACHEDIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

pkg=${E2E_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	# The newest cached image wins when apt cannot answer (offline rerun).
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }') || true
fi
if [ -z "$pkg" ]; then
	deb=$(find "$cache" -maxdepth 1 -name 'linux-image-[0-9]*-cloud-amd64_*.deb' | sort -V | tail -n 1)
	[ -n "$deb" ] || die "apt knows no linux-image-cloud-amd64 and $cache holds no kernel package; run 'apt-get update' first"
else
	deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
	if [ -z "$deb" ]; then
		echo "fetch-kernel: downloading $pkg through apt into $cache" >&2
		# apt's _apt user may not write here; download in a private temp
		# directory it can write, then move the file into the cache.
		tmp=$(mktemp -d)
		chmod 0777 "$tmp"
		if ! (cd "$tmp" && apt-get download -q "$pkg" >&2); then
			if [ "$(id -u)" -eq 0 ]; then
				apt-get update -qq >&2 || true
				(cd "$tmp" && apt-get download -q "$pkg" >&2) ||
					{ rm -rf "$tmp"; die "apt-get download $pkg failed"; }
			else
				rm -rf "$tmp"
				die "apt-get download $pkg failed (not root, so no apt-get update tried)"
			fi
		fi
		mv "$tmp"/*.deb "$cache"/
		rm -rf "$tmp"
		deb=$(find "$cache" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
		[ -n "$deb" ] || die "apt-get download $pkg left no package in $cache"
	fi
fi

dir=$cache/$(basename "$deb" .deb)
if [ ! -e "$dir/.done" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg-deb -x "$deb" "$dir" || die "cannot unpack $deb"
	touch "$dir/.done"
fi
ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1 || die "$deb holds no boot/vmlinuz-*"
echo "$dir"
