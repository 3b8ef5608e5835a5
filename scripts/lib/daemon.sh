# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The running daemon: its status file, its pid, its control socket.

# The status file (--status-file), rewritten by the daemon every second;
# per-chunk and per-GPU values are split into KEY.FIELD (see formats.sh).
declare -A VS_ST=()

vs_status_read() { vs_kv_read "$VS_STATUS" VS_ST VS_STATUS_FIELDS; }

# The indexes of the chunks in the status file, in order.
vs_status_chunks() {
	local k
	for k in "${!VS_ST[@]}"; do
		[[ $k =~ ^chunk\.([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
	done | sort -n
}

# True when PID is a live vram-swapd. PIDs are real processes, so this
# looks at the real /proc whatever VRAM_SWAP_PROCFS says.
vs_pid_is_daemon() {
	local pid=$1 comm
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || [[ -d /proc/$pid ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $comm == vram-swapd ]]
}

# Prints the pid of the running daemon, if any: the one setup recorded,
# else the one in the status file.
vs_daemon_pid() {
	local pid
	for pid in "${VS_STATE_V[pid]:-}" "${VS_ST[pid]:-}"; do
		if vs_pid_is_daemon "$pid"; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# vs_ctl COMMAND: asks the daemon's control socket (vram-swapd --ctl). Exit
# status 0 done, 1 refused (the reason on stderr), 3 no daemon.
vs_ctl() {
	local daemon
	daemon=$(vs_find_daemon) || return 3
	# The client reads settings as the daemon does: the defaults file's,
	# never whatever the caller's environment holds.
	(vs_export_settings && exec "$daemon" --socket "${VS_CONF[VRAM_SWAP_SOCKET]}" --ctl "$*")
}

# vs_ctl_read ARRAY COMMAND: the daemon's reply to COMMAND, parsed into
# ARRAY by vs_ctl_parse (ARRAY[chunk] lists the chunks, ARRAY[chunk.3.used]
# is one's pages in use, ...). Fails as vs_ctl does.
vs_ctl_read() {
	local _out
	_out=$(vs_ctl "${@:2}") || return
	vs_ctl_parse "$1" <<<"$_out"
}

# vs_wait_daemon OLD [TEST...]: the pid of a live daemon, other than OLD,
# that the status file says serves and for which TEST PID (if given)
# succeeds: a restarted or handed-over daemon, once it is there, within
# VRAM_SWAP_RESTART_WAIT. Fails when the time is up or the record is gone
# (the tier was torn down).
vs_wait_daemon() {
	local old=$1 pid deadline=$((SECONDS + VS_CONF[VRAM_SWAP_RESTART_WAIT]))
	shift
	while ((SECONDS < deadline)); do
		vs_state_read || return 1
		VS_ST=()
		vs_status_read
		pid=${VS_ST[pid]:-}
		if [[ $pid != "$old" && ${VS_ST[state]:-} == serving ]] && vs_pid_is_daemon "$pid" &&
			{ (($# == 0)) || "$@" "$pid"; }; then
			echo "$pid"
			return 0
		fi
		sleep 0.2
	done
	return 1
}
