# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Starting and stopping the daemon without systemd (setup's direct mode):
# the limits the unit would give it, its settings in its environment, the
# wait until it answers.

# What the daemon wrote to its log since byte VS_LOG_OFF.
vs_daemon_last_words() {
	tail -c "+$((VS_LOG_OFF + 1))" "$VS_LOG" 2>/dev/null | tail -n 15 | sed 's/^/  | /' >&2
}

# True when the daemon's socket answers with the export of every chunk
# its status file lists.
vs_daemon_answers() {
	local list idx
	list=$(nbd-client -unix "${VS_CONF[VRAM_SWAP_SOCKET]}" -l 2>/dev/null) || return 1
	[[ -n $(vs_status_chunks) ]] || return 1
	for idx in $(vs_status_chunks); do
		grep -qxF -- "${VS_CONF[VRAM_SWAP_EXPORT]}.$idx" <<<"$list" || return 1
	done
}

# The keeper of the daemon's pages without systemd (vram-swap-holder,
# next to the library's loader once installed; build/ in a source tree).
vs_holder_bin() {
	local c
	for c in "${VRAM_SWAP_HOLDER:-}" "$VS_LIBDIR/vram-swap-holder" "$VS_LIBDIR/../build/vram-swap-holder"; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	vs_err "vram-swap-holder not found next to $VS_LIBDIR/vram-swap-lib.sh; reinstall vram-swap"
	return 1
}

# The parent pid of PID, from the kernel.
vs_ppid() { sed -n 's/^PPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null; }

# Starts vram-swapd without systemd, under vram-swap-holder (which keeps
# its pages and starts it again should it die: docs/crash-safety.md), in
# its own session so that the terminal closing does not reach it, with
# the limits systemd would give it. Waits until its socket answers.
# Records the daemon's pid and the holder's.
vs_start_direct() {
	local daemon holder hpid pid rc deadline sock=${VS_CONF[VRAM_SWAP_SOCKET]}
	daemon=$(vs_find_daemon) || exit 1
	holder=$(vs_holder_bin) || exit 1
	touch "$VS_LOG" 2>/dev/null ||
		vs_die "cannot write the daemon's log $VS_LOG"
	VS_LOG_OFF=$(stat -c %s "$VS_LOG")
	rm -f "$VS_STATUS"
	(
		ulimit -l unlimited 2>/dev/null ||
			vs_warn "cannot lift the locked-memory limit (ulimit -l); the daemon may fail to lock itself in RAM"
		echo -1000 >/proc/self/oom_score_adj 2>/dev/null ||
			vs_warn "cannot set oom_score_adj -1000; the OOM killer could pick the daemon"
		# Only 0-2 go to the daemon: an inherited pipe would keep whoever
		# ran setup waiting for an end of file that never comes.
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
		done
		vs_export_settings
		exec setsid "$holder" --quiet -- "$daemon" --status-file "$VS_STATUS" </dev/null >>"$VS_LOG" 2>&1
	) &
	hpid=$!
	vs_state_set mode=direct holder="$hpid" socket="$sock" \
		export="${VS_CONF[VRAM_SWAP_EXPORT]}" log="$VS_LOG"
	deadline=$((SECONDS + VS_START_TIMEOUT))
	while :; do
		if ! kill -0 "$hpid" 2>/dev/null; then
			wait "$hpid"
			rc=$?
			vs_err "vram-swapd exited with status $rc before it was ready; its log ($VS_LOG) says:"
			vs_daemon_last_words
			vs_state_clear
			exit 1
		fi
		pid=""
		if vs_status_read && [[ ${VS_ST[state]:-} == serving ]]; then
			pid=${VS_ST[pid]:-}
			[[ $(vs_ppid "$pid") == "$hpid" ]] && vs_pid_is_daemon "$pid" || pid=""
		fi
		if [[ -n $pid ]] && vs_daemon_answers; then
			vs_state_set pid="$pid"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			vs_err "vram-swapd (under holder $hpid) did not answer on $sock within $VS_START_TIMEOUT s; stopping it. Its log ($VS_LOG) says:"
			vs_daemon_last_words
			vs_stop_direct "$hpid"
			vs_state_clear
			exit 1
		fi
		sleep 0.1
	done
}

# SIGTERM, then wait for PID (the holder, which passes it on, or the
# daemon) to go. The daemon has no client at this point, so it exits at
# once, and its holder with it.
vs_stop_direct() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	vs_warn "vram-swapd (pid $pid) is still running 10 s after SIGTERM"
}
