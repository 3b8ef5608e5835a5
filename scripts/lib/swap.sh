# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Swap areas: what /proc/swaps lists, whether a swapoff can fit, swapon
# and swapoff themselves.

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

# True when the kernel uses DEV as swap: listed, or claimed by the kernel
# while /proc/swaps lists it under a path this namespace cannot resolve.
vs_swap_held() {
	vs_swap_active "$1" && return 0
	vs_dev_claim "$1"
	(($? == 1))
}

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

# mkswap and swapon DEV at the tier's priority, with discard as set.
vs_swap_make() {
	local dev=$1 out args=(-p "${VS_CONF[VRAM_SWAP_PRIORITY]}")
	[[ ${VS_CONF[VRAM_SWAP_DISCARD]} == on ]] && args+=(--discard=pages)
	out=$(mkswap -L vram-swap "$dev" 2>&1) || {
		vs_err "mkswap $dev failed: ${out//$'\n'/ }"
		return 1
	}
	out=$(swapon "${args[@]}" "$dev" 2>&1) || {
		vs_err "swapon $dev failed: ${out//$'\n'/ }"
		return 1
	}
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
