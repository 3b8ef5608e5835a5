# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Messages, sizes and the root check: what every script says and how.

VS_PROG=${0##*/}

vs_err()  { printf '%s: error: %s\n' "$VS_PROG" "$*" >&2; }
vs_warn() { printf '%s: warning: %s\n' "$VS_PROG" "$*" >&2; }
vs_info() { printf '%s: %s\n' "$VS_PROG" "$*"; }
vs_die()  { vs_err "$@"; exit 1; }

vs_require_root() {
	[[ $(id -u) == 0 ]] || vs_die "must run as root (it loads a kernel module, attaches a block device and enables swap); try: sudo $VS_PROG $*"
}

# Human size of a byte count: 64.0 MiB, 7.5 GiB.
vs_human() {
	local b=$1
	[[ $b =~ ^[0-9]+$ ]] || { echo "?"; return; }
	awk -v b="$b" 'BEGIN {
		split("B KiB MiB GiB TiB PiB", u, " "); i = 1
		while (b >= 1024 && i < 6) { b /= 1024; i++ }
		if (i == 1) printf "%d B\n", b; else printf "%.1f %s\n", b, u[i] }'
}

# Bytes of a size (a number, optionally with K, M, G or T: binary units);
# fails otherwise.
vs_size_bytes() {
	local v=${1,,} n shift=0
	[[ $v =~ ^([0-9]+)([kmgt]?)(ib)?$ ]] || return 1
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in
	k) shift=10 ;; m) shift=20 ;; g) shift=30 ;; t) shift=40 ;;
	esac
	echo $((10#$n << shift))
}
