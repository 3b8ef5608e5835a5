# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Where things are: every system location goes through a variable that the
# environment may override, so that the tests run unprivileged against
# fake /proc, /sys, /etc, /run and /dev trees. Also the daemon binary,
# systemd and the mount namespace the scripts must run in.

VS_PROC=${VRAM_SWAP_PROCFS:-/proc}
VS_SYS=${VRAM_SWAP_SYSFS:-/sys}
# make install substitutes SYSCONFDIR; the source tree means /etc.
VS_ETC=@SYSCONFDIR@
[[ $VS_ETC == /* ]] || VS_ETC=/etc
VS_ETC=${VRAM_SWAP_SYSCONFDIR:-$VS_ETC}
VS_RUN=${VRAM_SWAP_RUNDIR:-/run}
VS_DEV=${VRAM_SWAP_DEVDIR:-/dev}
VS_DEFAULTS=${VRAM_SWAP_DEFAULTS:-$VS_ETC/default/vram-swap}
VS_STATE_DIR=$VS_RUN/vram-swap
VS_STATE=$VS_STATE_DIR/setup.state
VS_STATUS=$VS_STATE_DIR/status
VS_UNIT=vram-swap.service
# shellcheck disable=SC2034 # used by the scripts that source this file
# The daemon's log when started without systemd: on disk, not on a tmpfs
# whose pages could themselves end up in the swap the daemon serves.
VS_LOG=${VRAM_SWAP_LOG_FILE:-/var/log/vram-swapd.log}
# shellcheck disable=SC2034
VS_START_TIMEOUT=${VRAM_SWAP_START_TIMEOUT:-120}
# shellcheck disable=SC2034
VS_STOP_TIMEOUT=${VRAM_SWAP_STOP_TIMEOUT:-60}

# The daemon binary: $VRAM_SWAP_DAEMON, next to the script (installed), the
# build tree (source checkout), or PATH.
vs_find_daemon() {
	local dir c
	dir=$(dirname -- "$(readlink -f -- "$0")")
	for c in "${VRAM_SWAP_DAEMON:-}" "$dir/vram-swapd" "$dir/../build/vram-swapd"; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	command -v vram-swapd && return 0
	vs_err "vram-swapd not found (looked next to $0, in its ../build/ and on PATH); set VRAM_SWAP_DAEMON or install it"
	return 1
}

# sd_booted(): systemd is PID 1 when /run/systemd/system exists.
vs_have_systemd() { [[ -d $VS_RUN/systemd/system ]]; }

vs_unit_active() { systemctl is-active --quiet "$VS_UNIT" 2>/dev/null; }

# swapon and swapoff must run in the mount namespace of PID 1: the kernel
# prints a swap area's path relative to the namespace that enabled it, and
# from anywhere else it is not /dev/nbdX. Namespace identities come from
# the kernel (/proc/PID/ns/mnt); when they cannot be read (no privilege
# over PID 1) there is nothing to compare. VRAM_SWAP_INIT_PID names the
# reference process in tests.
vs_require_host_mntns() {
	local self init pid=${VRAM_SWAP_INIT_PID:-1}
	self=$(readlink /proc/self/ns/mnt 2>/dev/null) || return 0
	init=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || return 0
	[[ $self == "$init" ]] ||
		vs_die "running in a private mount namespace ($self; PID $pid has $init): swap enabled or disabled here would be listed under a path the rest of the system cannot see. Run $VS_PROG from the host, outside any unit or container that has its own mount namespace (ProtectSystem=, PrivateTmp=, unshare -m)"
}
