# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Shared helpers of vram-swap-setup, vram-swap-teardown and vram-swap-status.
# Sourced, never run. Every system location goes through a variable that
# the environment may override, so that the tests run unprivileged against
# fake /proc, /sys, /etc, /run and /dev trees.

VS_PROG=${0##*/}

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

vs_err()  { printf '%s: error: %s\n' "$VS_PROG" "$*" >&2; }
vs_warn() { printf '%s: warning: %s\n' "$VS_PROG" "$*" >&2; }
vs_info() { printf '%s: %s\n' "$VS_PROG" "$*"; }
vs_die()  { vs_err "$@"; exit 1; }

# --- the defaults file ------------------------------------------------------

# The settings, as the daemon validates them: `vram-swapd --check-config`
# is the one gate (and the one table of defaults) for every key of
# /etc/default/vram-swap, including those only the scripts use.
declare -A VS_CONF=()

# Reads and validates the defaults file into VS_CONF (absent keys take the
# daemon's defaults). Any problem is reported with file, line, key and
# value, and is fatal.
vs_load_defaults() {
	local file=$VS_DEFAULTS daemon out rc key val
	daemon=$(vs_find_daemon) || exit 1
	local args=(--check-config)
	if [[ ! -e $file ]]; then
		vs_warn "$file does not exist; using the built-in defaults"
	else
		[[ -r $file ]] || vs_die "cannot read $file"
		args+=("$file")
	fi
	# Success prints only KEY=value lines; failure only messages.
	out=$("$daemon" "${args[@]}" 2>&1)
	rc=$?
	if ((rc != 0)); then
		while IFS= read -r val; do
			vs_err "${val#vram-swapd: }"
		done <<<"$out"
		((rc == 2)) || vs_die "$daemon --check-config failed (status $rc)"
		vs_die "fix $file and run $VS_PROG again; nothing was changed"
	fi
	VS_CONF=()
	while IFS='=' read -r key val; do
		[[ -n $key ]] && VS_CONF[$key]=$val
	done <<<"$out"
	# The packaged default names /run; tests move /run elsewhere.
	if [[ ${VS_CONF[VRAM_SWAP_SOCKET]} == /run/* && $VS_RUN != /run ]]; then
		VS_CONF[VRAM_SWAP_SOCKET]=$VS_RUN/${VS_CONF[VRAM_SWAP_SOCKET]#/run/}
	fi
}

# --- the record of what setup did ------------------------------------------

declare -A VS_STATE_V=()

vs_state_read() {
	local line
	VS_STATE_V=()
	[[ -f $VS_STATE ]] || return 1
	while IFS= read -r line; do
		[[ $line == *=* ]] || continue
		VS_STATE_V[${line%%=*}]=${line#*=}
	done <"$VS_STATE"
	return 0
}

# vs_state_set KEY=VALUE...: updates the record (temp file + rename, so a
# crash never leaves half a record).
vs_state_set() {
	local kv k tmp
	for kv in "$@"; do
		k=${kv%%=*}
		VS_STATE_V[$k]=${kv#*=}
	done
	tmp=$VS_STATE.tmp.$$
	{
		for k in $(printf '%s\n' "${!VS_STATE_V[@]}" | sort); do
			printf '%s=%s\n' "$k" "${VS_STATE_V[$k]}"
		done
	} >"$tmp" || vs_die "cannot write $tmp"
	mv -f "$tmp" "$VS_STATE" || vs_die "cannot write $VS_STATE"
}

vs_state_clear() {
	VS_STATE_V=()
	rm -f "$VS_STATE"
}

vs_state_dir() {
	# 0700: the daemon refuses a socket directory others can reach.
	{ mkdir -p "$VS_STATE_DIR" && chmod 0700 "$VS_STATE_DIR"; } ||
		vs_die "cannot create $VS_STATE_DIR"
}

# --- the daemon's status file -----------------------------------------------

declare -A VS_ST=()

vs_status_read() {
	local line kv
	VS_ST=()
	[[ -r $VS_STATUS ]] || return 1
	while IFS= read -r line; do
		[[ $line == *=* ]] || continue
		# Counters may share a line: "reads=1 writes=2".
		if [[ $line =~ ^[a-z_]+=[0-9]+([[:space:]]+[a-z_]+=[0-9]+)+$ ]]; then
			for kv in $line; do VS_ST[${kv%%=*}]=${kv#*=}; done
			continue
		fi
		VS_ST[${line%%=*}]=${line#*=}
	done <"$VS_STATUS"
	return 0
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

# --- systemd ----------------------------------------------------------------

# sd_booted(): systemd is PID 1 when /run/systemd/system exists.
vs_have_systemd() { [[ -d $VS_RUN/systemd/system ]]; }

vs_unit_active() { systemctl is-active --quiet "$VS_UNIT" 2>/dev/null; }

# --- devices and swaps ------------------------------------------------------

# "MAJ:MIN" of the block device at PATH, or nothing.
vs_blk_num() {
	local t maj min
	[[ -b $1 ]] || return 0
	t=$(stat -L -c '%t %T' -- "$1" 2>/dev/null) || return 0
	read -r maj min <<<"$t"
	printf '%d:%d\n' "0x$maj" "0x$min"
}

# Prints "size used priority" (KiB, KiB, number) of DEV's line in
# /proc/swaps: the line whose path is DEV's block device (same device
# number), or names DEV itself. A swap area enabled from another mount
# namespace is listed under a path this one cannot resolve and is not found
# here; safety decisions therefore ask the kernel (vs_dev_claim), never this.
vs_swap_line() {
	local dev=$1 num name size used prio
	[[ -n $dev && -r $VS_PROC/swaps ]] || return 1
	num=$(vs_devnum "$dev")
	while read -r name _ size used prio; do
		[[ $name == Filename ]] && continue
		if [[ $name == "$dev" ]] || { [[ -n $num ]] && [[ $(vs_blk_num "$name") == "$num" ]]; }; then
			echo "$size $used $prio"
			return 0
		fi
	done <"$VS_PROC/swaps"
	return 1
}

# True when DEV is listed in /proc/swaps (see vs_swap_line).
vs_swap_active() { vs_swap_line "$1" >/dev/null; }

# KiB used on swap areas whose listed path names no block device here:
# areas enabled from another mount namespace, which may be DEV.
vs_swap_unresolved_used() {
	local name used sum=0
	[[ -r $VS_PROC/swaps ]] || { echo 0; return; }
	while read -r name _ _ used _; do
		[[ $name == Filename || -b $name || ! $used =~ ^[0-9]+$ ]] && continue
		sum=$((sum + used))
	done <"$VS_PROC/swaps"
	echo "$sum"
}

# The interlock helper (vram-swap-excl, next to this library once
# installed; build/ in a source tree).
vs_excl_bin() {
	local lib c
	lib=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
	for c in "${VRAM_SWAP_EXCL:-}" "$lib/vram-swap-excl" "$lib/../build/vram-swap-excl"; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	vs_err "vram-swap-excl not found next to $lib/vram-swap-lib.sh; reinstall vram-swap"
	return 1
}

# Asks the kernel whether anything holds DEV: an exclusive open fails with
# EBUSY while it is swap, mounted or a member of another block device,
# whatever path /proc/swaps shows. Returns 0 free, 1 held, 2 unknown (no
# helper, no permission, not a block device), 3 no such device.
vs_dev_claim() {
	local excl rc
	excl=$(vs_excl_bin) || return 2
	"$excl" "$1" 2>/dev/null
	rc=$?
	((rc <= 3)) || rc=2
	return "$rc"
}

# nbd-client -d DEV while holding DEV exclusively, so that nothing can
# claim it between the check and the detach. Fails, detaching nothing,
# when the kernel holds DEV.
vs_nbd_detach() {
	local dev=$1 excl out rc
	excl=$(vs_excl_bin) || return 2
	out=$("$excl" "$dev" nbd-client -d "$dev" 2>&1)
	rc=$?
	((rc == 0)) && return 0
	if ((rc == 1)) && [[ $out == *"in use by the kernel"* ]]; then
		vs_err "refusing to detach $dev: the kernel still holds it (swap, a mount or another exclusive holder); detaching would lose the data on it"
	else
		vs_err "nbd-client -d $dev failed: ${out//$'\n'/ }"
	fi
	return 1
}

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

# An nbd device is in use when the kernel has a client pid for it or a
# non-zero size (see nbd-client(8) and the nbd driver's sysfs attributes).
vs_nbd_busy() {
	local name=${1##*/} size=0
	[[ -e $VS_SYS/block/$name/pid ]] && return 0
	[[ -r $VS_SYS/block/$name/size ]] && size=$(<"$VS_SYS/block/$name/size")
	[[ $size =~ ^[0-9]+$ ]] && ((size > 0))
}

# Picks the nbd device for VRAM_SWAP_NBD_DEVICE: the named one, or the
# first free one for "auto". Prints the /dev path (real name, for the
# kernel and /proc/swaps) or fails with a message.
vs_pick_nbd() {
	local want=${VS_CONF[VRAM_SWAP_NBD_DEVICE]} d name
	if [[ $want != auto ]]; then
		name=${want##*/}
		[[ -e $VS_DEV/$name ]] || {
			vs_err "$VS_DEV/$name does not exist (VRAM_SWAP_NBD_DEVICE=$want in $VS_DEFAULTS); is the nbd module loaded with enough nbds_max?"
			return 1
		}
		if vs_nbd_busy "$name"; then
			vs_err "/dev/$name is already in use by another nbd client; set VRAM_SWAP_NBD_DEVICE=auto or another device in $VS_DEFAULTS"
			return 1
		fi
		# Swap that is not ours: device_checks says so.
		vs_swap_active "/dev/$name" && { echo "/dev/$name"; return 0; }
		if ! vs_dev_claim "/dev/$name"; then
			vs_err "/dev/$name is held by the kernel (swap, a mount or another exclusive holder) or cannot be opened; set VRAM_SWAP_NBD_DEVICE=auto or another device in $VS_DEFAULTS"
			return 1
		fi
		echo "/dev/$name"
		return 0
	fi
	for d in "$VS_DEV"/nbd*; do
		name=${d##*/}
		[[ $name =~ ^nbd[0-9]+$ ]] || continue
		vs_nbd_busy "$name" && continue
		vs_swap_active "/dev/$name" && continue
		vs_dev_claim "/dev/$name" || continue
		echo "/dev/$name"
		return 0
	done
	vs_err "no free nbd device in $VS_DEV (all /dev/nbd* are in use); free one or load the nbd module with a larger nbds_max"
	return 1
}

# "MAJ:MIN" of a block device from sysfs, or nothing.
vs_devnum() {
	local f=$VS_SYS/block/${1##*/}/dev
	[[ -r $f ]] && cat "$f"
	return 0
}

# True when the pages swapped out to DEV fit in what RAM and the other swap
# devices can still take, with some headroom. swapoff does not fail cleanly
# when they do not: the kernel thrashes, the OOM killer kills swapoff (its
# first choice) and then others, and a tight machine can lock up. So the
# check comes first. Prints the figures for a message.
vs_swapoff_fits() {
	local dev=$1 size used prio avail=-1 swfree=-1 k v _ room line
	if line=$(vs_swap_line "$dev"); then
		read -r size used prio <<<"$line"
	else
		# Listed under a path this namespace cannot resolve: count every
		# such area as ours, which errs towards refusing.
		used=$(vs_swap_unresolved_used) size=$used
	fi
	[[ $used =~ ^[0-9]+$ && $size =~ ^[0-9]+$ ]] || return 0
	if [[ -r $VS_PROC/meminfo ]]; then
		while read -r k v _; do
			case $k in
			MemAvailable:) avail=$v ;;
			SwapFree:) swfree=$v ;;
			esac
		done <"$VS_PROC/meminfo"
	fi
	((avail >= 0 && swfree >= 0)) || return 0
	# SwapFree counts this device's own free space, which swapoff removes.
	room=$((avail + swfree - (size - used)))
	printf '%s KiB swapped out to %s; %s KiB of RAM available and %s KiB free on other swap\n' \
		"$used" "$dev" "$avail" "$((swfree - (size - used)))"
	((used + 65536 <= room))
}

# KiB in use on DEV's swap area (see vs_swapoff_fits for the unresolved case).
vs_swap_used() {
	local line size used
	if line=$(vs_swap_line "$1"); then
		read -r size used _ <<<"$line"
		echo "$used"
	else
		vs_swap_unresolved_used
	fi
}

# swapoff DEV. Under a unit's stop (systemd passes NOTIFY_SOCKET), each
# 5 s in which pages came back extend the stop timeout by a minute, so that
# a long swapoff is never cut short while a stuck one still times out.
vs_run_swapoff() {
	local dev=$1 pid last now i
	if [[ -z ${NOTIFY_SOCKET:-} ]] || ! command -v systemd-notify >/dev/null 2>&1; then
		swapoff "$dev"
		return
	fi
	swapoff "$dev" &
	pid=$!
	last=$(vs_swap_used "$dev")
	while kill -0 "$pid" 2>/dev/null; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		now=$(vs_swap_used "$dev")
		if [[ $now =~ ^[0-9]+$ && $last =~ ^[0-9]+$ ]] && ((now < last)); then
			systemd-notify EXTEND_TIMEOUT_USEC=60000000 2>/dev/null
		fi
		last=$now
	done
	wait "$pid"
}


# --- chunks -----------------------------------------------------------------

# The swap tier is made of chunks, each its own export (EXPORT.N), nbd
# device and swap area at the same priority. The record names the first
# chunk setup attached in its original keys (chunk, nbd_device, attached,
# swap) and every other attached chunk as chunk.N=/dev/nbdX.

# vs_ctl COMMAND: asks the daemon's control socket (vram-swapd --ctl). Exit
# status 0 done, 1 refused (the reason on stderr), 3 no daemon.
vs_ctl() {
	local daemon
	daemon=$(vs_find_daemon) || return 3
	"$daemon" --socket "${VS_CONF[VRAM_SWAP_SOCKET]}" --ctl "$*"
}

# "IDX GPU SIZE USED CLIENTS" per chunk the daemon serves, from `chunks`.
vs_chunk_list() {
	local out
	out=$(vs_ctl chunks) || return
	awk '$1 == "chunk" { print $2, $4, $6, $8, $10 }' <<<"$out"
}

# The indexes of the chunks in the status file (setup reads it right after
# the daemon became ready).
vs_status_chunks() {
	local k
	for k in "${!VS_ST[@]}"; do
		[[ $k =~ ^chunk\.([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
	done | sort -n
}

# The device chunk IDX is attached as, from the record; nothing if none.
vs_chunk_dev() {
	if [[ ${VS_STATE_V[chunk]:-} == "$1" && ${VS_STATE_V[attached]:-0} == 1 ]]; then
		echo "${VS_STATE_V[nbd_device]}"
	elif [[ -n ${VS_STATE_V[chunk.$1]:-} ]]; then
		echo "${VS_STATE_V[chunk.$1]}"
	fi
}

# Every attached chunk as "IDX DEV".
vs_attached_chunks() {
	local k
	[[ -n ${VS_STATE_V[chunk]:-} && ${VS_STATE_V[attached]:-0} == 1 ]] &&
		echo "${VS_STATE_V[chunk]} ${VS_STATE_V[nbd_device]}"
	for k in "${!VS_STATE_V[@]}"; do
		[[ $k =~ ^chunk\.([0-9]+)$ && -n ${VS_STATE_V[$k]} ]] &&
			echo "${BASH_REMATCH[1]} ${VS_STATE_V[$k]}"
	done
	return 0
}

# Forgets chunk IDX in the record. When it was the first, another attached
# chunk takes its place, so that the original keys describe an attached
# chunk whenever one is (setup, sleep and status read them).
vs_chunk_unrecord() {
	local k
	if [[ ${VS_STATE_V[chunk]:-} == "$1" ]]; then
		for k in "${!VS_STATE_V[@]}"; do
			[[ $k =~ ^chunk\.[0-9]+$ && -n ${VS_STATE_V[$k]} ]] || continue
			VS_STATE_V[nbd_device]=${VS_STATE_V[$k]}
			VS_STATE_V[chunk]=${k#chunk.}
			unset "VS_STATE_V[$k]"
			vs_state_set attached=1 swap=1
			return 0
		done
		vs_state_set attached=0 swap=0 chunk=
	else
		unset "VS_STATE_V[chunk.$1]"
		vs_state_set
	fi
}

# vs_chunk_attach IDX: a free nbd device, nbd-client for export EXPORT.IDX,
# mkswap, swapon at the tier's priority; recorded as chunk.IDX. A failing
# step undoes the ones before it.
vs_chunk_attach() {
	local idx=$1 dev out sock=${VS_CONF[VRAM_SWAP_SOCKET]} args
	dev=$(vs_pick_nbd) || return 1
	out=$(nbd-client -unix "$sock" "$dev" -b 4096 -C "${VS_CONF[VRAM_SWAP_CONNECTIONS]}" \
		-N "${VS_CONF[VRAM_SWAP_EXPORT]}.$idx" 2>&1) || {
		vs_err "nbd-client could not attach $dev to chunk $idx on $sock: ${out//$'\n'/ }"
		return 1
	}
	vs_state_set "chunk.$idx=$dev"
	args=(-p "${VS_CONF[VRAM_SWAP_PRIORITY]}")
	[[ ${VS_CONF[VRAM_SWAP_DISCARD]} == on ]] && args+=(--discard=pages)
	if ! out=$(mkswap -L vram-swap "$dev" 2>&1) || ! out=$(swapon "${args[@]}" "$dev" 2>&1); then
		vs_err "enabling swap on $dev (chunk $idx) failed: ${out//$'\n'/ }"
		vs_nbd_detach "$dev" && vs_chunk_unrecord "$idx"
		return 1
	fi
	return 0
}

# vs_chunk_release IDX: swapoff its device (when its pages fit back in
# memory), detach it under the exclusive claim, then free the chunk in the
# daemon. Any step that fails leaves the chunk attached and serving, and
# says why. The daemon refuses to free a chunk a client is attached to, so
# the free waits (up to 10 s) for the kernel's connections to close.
vs_chunk_release() {
	local idx=$1 dev why out claim i
	dev=$(vs_chunk_dev "$idx")
	if [[ -n $dev ]]; then
		vs_dev_claim "$dev"
		claim=$?
		if ((claim == 1 || claim == 2)) || vs_swap_active "$dev"; then
			if ! why=$(vs_swapoff_fits "$dev"); then
				vs_err "chunk $idx stays on $dev: its pages do not fit back in memory ($why, and 64 MiB must stay free)"
				return 1
			fi
			if ! out=$(vs_run_swapoff "$dev" 2>&1); then
				vs_err "chunk $idx stays on $dev: swapoff failed: ${out//$'\n'/ }"
				return 1
			fi
		fi
		vs_nbd_detach "$dev" || return 1
		vs_chunk_unrecord "$idx"
	fi
	for ((i = 0; i < 100; i++)); do
		out=$(vs_ctl "free $idx" 2>&1) && return 0
		[[ $out == *"attached"* ]] || break
		sleep 0.1
	done
	vs_err "chunk $idx is detached but the daemon did not free it: ${out#vram-swapd: }"
	return 1
}

# Holds the lock that keeps resize, yield and the watcher from changing
# chunks at the same time (released when the process ends).
vs_chunk_lock() {
	exec 9>>"$VS_STATE_DIR/chunks.lock" || vs_die "cannot open $VS_STATE_DIR/chunks.lock"
	flock 9 || vs_die "cannot lock $VS_STATE_DIR/chunks.lock"
}

# Brings the attached chunks to the daemon's target, GPU by GPU: where it
# holds more chunks than the target, the least used go first (swapoff,
# detach, free); where fewer, new ones are added and attached. Stops at the
# first chunk that cannot go (its swapoff failed: it stays attached and
# serving) and says how far it got. Chunks the daemon holds that nothing
# attached (left by an interrupted resize) are freed first when over.
vs_reconcile() {
	local tgt gpu have want idx g size used clients dev rel=0 add=0 fail=0 out
	tgt=$(vs_ctl target) || return 1
	while read -r _ gpu _ have _ want; do
		if ((have > want)); then
			# Unattached first, then by pages in use, fewest first.
			while read -r idx g size used clients; do
				((have > want)) || break
				[[ $g == "$gpu" ]] || continue
				dev=$(vs_chunk_dev "$idx")
				if ! vs_chunk_release "$idx"; then
					fail=1
					break
				fi
				vs_info "released chunk $idx ($(vs_human "$size") on GPU $gpu${dev:+, was $dev})"
				rel=$((rel + 1))
				have=$((have - 1))
			done < <(vs_chunk_list | while read -r idx g size used clients; do
				[[ -n $(vs_chunk_dev "$idx") ]] && echo "1 $used $idx $g $size $clients" ||
					echo "0 0 $idx $g $size $clients"
			done | sort -n -k1,1 -k2,2 | awk '{ print $3, $4, $5, $2, $6 }')
			((fail)) && break
		fi
		while ((have < want)); do
			out=$(vs_ctl "add $gpu") || { fail=1; break; }
			idx=$(awk '$1 == "chunk" { print $2; exit }' <<<"$out")
			if ! vs_chunk_attach "$idx"; then
				vs_ctl "free $idx" >/dev/null
				fail=1
				break
			fi
			vs_info "added chunk $idx on GPU $gpu as $(vs_chunk_dev "$idx")"
			add=$((add + 1))
			have=$((have + 1))
		done
		((fail)) && break
	done < <(grep '^gpu ' <<<"$tgt")
	if ((fail)); then
		vs_err "stopped after releasing $rel and adding $add chunk(s); every chunk still attached keeps serving, nothing was lost"
		return 1
	fi
	return 0
}

# --- GPU --------------------------------------------------------------------

# Runs nvidia-smi's query; prints "index|uuid|bus_id|name|total MiB|free MiB"
# lines, or fails with the precise reason.
vs_gpu_query() {
	local out rc
	if ! command -v nvidia-smi >/dev/null 2>&1; then
		vs_err "nvidia-smi not found: install the NVIDIA driver utilities (Debian: nvidia-smi; Ubuntu: nvidia-utils-<version>), or set VRAM_SWAP_BACKEND=host in $VS_DEFAULTS to use RAM for testing"
		return 1
	fi
	out=$(nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total,memory.free \
		--format=csv,noheader,nounits 2>&1)
	rc=$?
	if ((rc == 18)) || [[ $out == *"Driver/library version mismatch"* ]]; then
		vs_err "NVIDIA driver/library version mismatch (nvidia-smi: ${out//$'\n'/ }): the loaded kernel module and the user-space driver differ, usually after a driver upgrade without a reboot; reboot (or reload the nvidia modules) and try again"
		return 1
	fi
	if ((rc != 0)); then
		vs_err "nvidia-smi failed (exit $rc): ${out//$'\n'/ }; check that the NVIDIA driver is loaded (lsmod | grep nvidia) and the GPU is visible"
		return 1
	fi
	printf '%s\n' "$out" | sed -e 's/[[:space:]]*,[[:space:]]*/|/g'
}

# Normalises a PCI bus id for comparison: lower case, 4-digit domain.
vs_pci_norm() {
	local v=${1,,} dom rest
	if [[ $v =~ ^([0-9a-f]+):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$ ]]; then
		dom=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
		printf '%04x:%s\n' "$((16#$dom))" "$rest"
	else
		printf '0000:%s\n' "$v"
	fi
}

# Finds the lines of vs_gpu_query's output that VRAM_SWAP_DEVICE names
# ("all": every GPU; else each of its comma-separated entries).
vs_gpu_select() {
	local list=$1 spec=${VS_CONF[VRAM_SWAP_DEVICE]} want idx uuid bus rest found
	if [[ $spec == all ]]; then
		printf '%s\n' "$list"
		return 0
	fi
	local IFS=,
	for want in $spec; do
		found=0
		while IFS='|' read -r idx uuid bus rest; do
			if [[ $want =~ ^[0-9]+$ && $idx == "$((10#$want))" ]] ||
				[[ ${want,,} == "${uuid,,}" ]] ||
				[[ $want == *:* && $(vs_pci_norm "$want") == $(vs_pci_norm "$bus") ]]; then
				echo "$idx|$uuid|$bus|$rest"
				found=1
				break
			fi
		done <<<"$list"
		((found)) && continue
		if [[ $want == "$spec" ]]; then
			vs_err "no GPU matches VRAM_SWAP_DEVICE=$spec in $VS_DEFAULTS; GPUs present (index, uuid, bus id):"
		else
			vs_err "no GPU matches $want of VRAM_SWAP_DEVICE=$spec in $VS_DEFAULTS; GPUs present (index, uuid, bus id):"
		fi
		while IFS='|' read -r idx uuid bus rest; do
			printf '  %s  %s  %s  %s\n' "$idx" "$uuid" "$bus" "${rest%%|*}" >&2
		done <<<"$list"
		return 1
	done
}

# Kernel module version against the version of the libcuda.so.1 that the
# loader resolves; they must be equal or CUDA refuses to start.
vs_driver_versions_match() {
	local kver="" lib="" uver=""
	if [[ -r $VS_SYS/module/nvidia/version ]]; then
		kver=$(<"$VS_SYS/module/nvidia/version")
	elif [[ -r $VS_PROC/driver/nvidia/version ]]; then
		kver=$(sed -n 's/^NVRM version:.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' \
			"$VS_PROC/driver/nvidia/version")
	fi
	# Prefer the 64-bit entry, "(libc6,x86-64)" or "(libc6,AArch64)", over
	# a 32-bit "(libc6)" one.
	lib=${VRAM_SWAP_LIBCUDA:-$(ldconfig -p 2>/dev/null | awk '
		$1 == "libcuda.so.1" && $2 ~ /,/ { print $NF; found = 1; exit }
		$1 == "libcuda.so.1" && !any { any = $NF }
		END { if (!found && any) print any }')}
	if [[ -n $lib ]]; then
		lib=$(readlink -f -- "$lib" 2>/dev/null)
		[[ ${lib##*/} =~ ^libcuda\.so\.([0-9]+\.[0-9.]+)$ ]] && uver=${BASH_REMATCH[1]}
	fi
	if [[ -z $lib ]]; then
		vs_err "libcuda.so.1 not found by the dynamic loader (ldconfig -p): install the NVIDIA user-space driver (Debian: libcuda1; Ubuntu: libnvidia-compute-<version>)"
		return 1
	fi
	if [[ -z $kver || -z $uver ]]; then
		vs_warn "cannot compare driver versions (kernel module: ${kver:-unknown}, libcuda: ${uver:-unknown} from ${lib}); going on"
		return 0
	fi
	if [[ $kver != "$uver" ]]; then
		vs_err "NVIDIA driver/library version mismatch: kernel module $kver, libcuda.so.1 -> $lib ($uver); reboot after a driver upgrade, or install the user-space driver matching the module"
		return 1
	fi
	return 0
}

# --- misc -------------------------------------------------------------------

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

vs_require_root() {
	[[ $(id -u) == 0 ]] || vs_die "must run as root (it loads a kernel module, attaches a block device and enables swap); try: sudo $VS_PROG $*"
}
