#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs vram-swap from this source tree on distributions without a
# package: builds, installs under a prefix, and records every file and
# directory it creates in a manifest so that --uninstall undoes exactly that.
# It never downloads anything but distribution packages, and asks first.
set -eu

usage() {
	cat <<EOF
usage: $0 [--prefix DIR] [--destdir DIR] [--yes] [--check | --uninstall]

  (no action)    build and install (default prefix /usr/local)
  --check        only report what is missing; change nothing
  --uninstall    remove what an earlier install put in place (refused while
                 vram-swapd runs: run vram-swap-teardown first)
  --prefix DIR   installation prefix (default /usr/local)
  --destdir DIR  install below DIR instead of / (staging); no systemd reload
  --yes          install missing distribution packages without asking
EOF
}

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

action=install prefix=/usr/local destdir="" yes=no
while [ $# -gt 0 ]; do
	case $1 in
	--check) action=check ;;
	--uninstall) action=uninstall ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift ;;
	--prefix=*) prefix=${1#*=} ;;
	--destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift ;;
	--destdir=*) destdir=${1#*=} ;;
	--yes|-y) yes=yes ;;
	--help|-h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $prefix in /*) ;; *) die "--prefix must be an absolute path: $prefix" ;; esac
prefix=${prefix%/}
[ -n "$prefix" ] || die "--prefix / is not supported; use /usr"
if [ -n "$destdir" ]; then
	mkdir -p "$destdir" || die "cannot create --destdir $destdir"
	destdir=$(cd "$destdir" && pwd)
fi

srcdir=$(cd "$(dirname "$0")" && pwd)
libdir=$prefix/lib/vram-swap
manifest=$libdir/install-manifest
defaults=/etc/default/vram-swap

# systemd only reads units from a few places: the prefix's own when it is
# /usr or /usr/local, otherwise /etc.
sd_var() { pkg-config --variable="$1" systemd 2>/dev/null || true; }
case $prefix in
/usr/local) unitdir=/usr/local/lib/systemd/system ;;
/usr) unitdir=$(sd_var systemdsystemunitdir); unitdir=${unitdir:-/usr/lib/systemd/system} ;;
*) unitdir=/etc/systemd/system ;;
esac

# VRAM_SWAP_PROC: another /proc, for tests.
daemon_running() { grep -qsx vram-swapd "${VRAM_SWAP_PROC:-/proc}"/[0-9]*/comm; }
have() { command -v "$1" >/dev/null 2>&1; }

# What may be missing, each as "command:apt-package:rpm-package:arch-package"
# (a name ending in .h is a C header).
BUILD_NEEDS="make:make:make:make cc:gcc:gcc:gcc stdio.h:libc6-dev:glibc-devel:glibc"
RUN_NEEDS="nbd-client:nbd-client:nbd:nbd modprobe:kmod:kmod:kmod
 swapon:util-linux:util-linux:util-linux mkswap:util-linux:util-linux:util-linux"
missing_cmds() {
	for need in $1; do
		name=${need%%:*}
		case $name in
		*.h) [ -f "/usr/include/$name" ] || printf '%s\n' "$need" ;;
		*) have "$name" || printf '%s\n' "$need" ;;
		esac
	done
}

pkg_tool() {
	for t in apt-get dnf zypper pacman; do
		have "$t" && { echo "$t"; return; }
	done
}

# Offers to install distribution packages for missing commands; the
# package manager downloads them from the distribution, nothing else does.
offer_packages() {
	needs=$(missing_cmds "$1")
	[ -n "$needs" ] || return 0
	tool=$(pkg_tool)
	pkgs=""
	for need in $needs; do
		case $tool in
		apt-get) p=$(echo "$need" | cut -d: -f2) ;;
		dnf|zypper) p=$(echo "$need" | cut -d: -f3) ;;
		pacman) p=$(echo "$need" | cut -d: -f4) ;;
		*) p=${need%%:*} ;;
		esac
		case " $pkgs " in *" $p "*) ;; *) pkgs="$pkgs $p" ;; esac
	done
	case $tool in
	apt-get) cmd="apt-get install -y$pkgs" ;;
	dnf) cmd="dnf install -y$pkgs" ;;
	zypper) cmd="zypper --non-interactive install$pkgs" ;;
	pacman) cmd="pacman -S --needed --noconfirm$pkgs" ;;
	*) die "missing:$pkgs; no known package manager: install them, then run again" ;;
	esac
	if [ "$yes" != yes ]; then
		[ -t 0 ] || die "missing:$pkgs; install them ('$cmd') or run again with --yes"
		printf 'install.sh: missing:%s. Run "%s"? [y/N] ' "$pkgs" "$cmd"
		read -r answer
		case $answer in [yY]*) ;; *) die "not installing packages; nothing done" ;; esac
	fi
	[ "$(id -u)" -eq 0 ] || die "installing packages needs root: $cmd"
	[ "$tool" = apt-get ] && apt-get update
	$cmd || die "'$cmd' failed"
}

do_check() {
	gaps=0
	for need in $(missing_cmds "$BUILD_NEEDS $RUN_NEEDS"); do
		say "missing: ${need%%:*} (package $(echo "$need" | cut -d: -f2) on Debian, $(echo "$need" | cut -d: -f3) on Fedora)"; gaps=1
	done
	if [ ! -d /sys/module/nbd ] && ! modinfo nbd >/dev/null 2>&1; then
		say "missing: the nbd kernel module"; gaps=1
	fi
	# ldconfig's cache only: looking must not wake the GPU.
	if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
		say "missing: libcuda.so.1 (the NVIDIA driver's CUDA library; only the host backend works without it)"
		gaps=1
	fi
	[ -d /run/systemd/system ] || say "note: systemd is not running; use vram-swap-setup directly"
	if [ -f "$destdir$manifest" ]; then
		say "installed under $prefix (manifest $destdir$manifest)"
	else
		say "not installed under $prefix"
	fi
	[ $gaps -eq 0 ] && say "nothing missing"
	return $gaps
}

reload_systemd() {
	if [ -z "$destdir" ] && [ -d /run/systemd/system ] && have systemctl; then
		systemctl daemon-reload || say "warning: systemctl daemon-reload failed"
	fi
}

# Creates the parents of a path, recording each directory it creates.
make_parents() {
	[ -d "$destdir$(dirname "$1")" ] && return 0
	make_parents "$(dirname "$1")"
	# sh has no local variables: the recursion above clobbers any.
	mkdir "$destdir$(dirname "$1")"
	echo "d $(dirname "$1")" >> "$newmanifest"
}

do_install() {
	offer_packages "$BUILD_NEEDS"
	offer_packages "$RUN_NEEDS"
	[ -n "$destdir" ] || [ "$(id -u)" -eq 0 ] || die "installing to / needs root (or use --destdir)"
	daemon_running && say "note: vram-swapd is running; the new version runs after the next 'vram-swap-teardown && vram-swap-setup'"

	make -C "$srcdir" || die "build failed"
	stage=$(mktemp -d)
	newmanifest=$stage.manifest
	trap 'rm -rf "$stage" "$newmanifest"' EXIT
	make -C "$srcdir" -s install DESTDIR="$stage" PREFIX="$prefix" \
		SYSCONFDIR=/etc LIBEXECDIR="$libdir" UNITDIR="$unitdir" >/dev/null || die "staged install failed"

	# A reinstall keeps what the previous manifest says we created.
	old=""
	[ -f "$destdir$manifest" ] && old=$destdir$manifest
	: > "$newmanifest"
	[ -n "$old" ] && grep '^d ' "$old" >> "$newmanifest"
	[ -n "$old" ] && grep "^c $defaults " "$old" >> "$newmanifest"

	(cd "$stage" && find . ! -type d | sed 's/^\.//' | sort) > "$stage.files"
	while read -r f; do
		make_parents "$f"
		if [ "$f" = "$defaults" ] && [ -e "$destdir$f" ]; then
			say "keeping existing $f (see $srcdir/systemd/vram-swap.default for the shipped one)"
			continue
		fi
		cp -Pp "$stage$f" "$destdir$f.new-$$"
		mv -f "$destdir$f.new-$$" "$destdir$f"
		if [ "$f" = "$defaults" ]; then
			echo "c $f $(sha256sum < "$destdir$f" | cut -d' ' -f1)" >> "$newmanifest"
		else
			echo "f $f" >> "$newmanifest"
		fi
		say "installed $destdir$f"
	done < "$stage.files"
	rm -f "$stage.files"

	# Files the previous install had and this one does not: obsolete.
	if [ -n "$old" ]; then
		grep '^f ' "$old" | cut -c3- | while read -r f; do
			grep -qxF "f $f" "$newmanifest" || rm -f "$destdir$f"
		done
	fi
	make_parents "$manifest"
	sort -u "$newmanifest" > "$destdir$manifest"
	reload_systemd
	say "done. Settings: $defaults; start with vram-swap-setup or 'systemctl start vram-swap'"
}

do_uninstall() {
	[ -f "$destdir$manifest" ] || die "no install under $prefix found ($destdir$manifest missing)"
	[ -n "$destdir" ] || [ "$(id -u)" -eq 0 ] || die "uninstalling from / needs root"
	if daemon_running; then
		die "vram-swapd is running and may hold swapped-out pages; run vram-swap-teardown first, then uninstall again"
	fi
	while read -r kind path sum; do
		case $kind in
		f) rm -f "$destdir$path" ;;
		c)
			if [ -f "$destdir$path" ] &&
			   [ "$(sha256sum < "$destdir$path" | cut -d' ' -f1)" != "$sum" ]; then
				say "keeping $path: it was changed since installation"
			else
				rm -f "$destdir$path"
			fi ;;
		esac
	done < "$destdir$manifest"
	dirs=$(grep '^d ' "$destdir$manifest" | cut -c3- | sort -r)
	rm -f "$destdir$manifest"
	for d in $dirs; do
		rmdir "$destdir$d" 2>/dev/null || say "keeping $d: not empty"
	done
	reload_systemd
	say "uninstalled from $prefix"
}

case $action in
check) do_check ;;
install) do_install ;;
uninstall) do_uninstall ;;
esac
