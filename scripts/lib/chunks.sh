# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Chunks: the swap tier is made of chunks, each its own export
# (EXPORT.N), nbd device and swap area at the same priority. Every chunk
# is attached, recorded, swapped off, released and reported by the same
# code; none is special.

# vs_chunk_attach IDX: a free nbd device, attached by the daemon to export
# EXPORT.IDX (it connects the kernel itself, so that the device can wait
# for a restarted daemon), mkswap, swapon at the tier's priority; recorded
# as chunk.IDX. A failing step undoes the ones before it.
vs_chunk_attach() {
	local idx=$1 dev out
	dev=$(vs_pick_nbd) || return 1
	out=$(vs_ctl "attach $idx ${dev#/dev/nbd} ${VS_CONF[VRAM_SWAP_CONNECTIONS]}" 2>&1) || {
		vs_err "${out#vram-swapd: }"
		return 1
	}
	if [[ $out != "device ${dev#/dev/}" ]]; then
		vs_err "vram-swapd attached chunk $idx as '${out//$'\n'/ }', not ${dev#/dev/}"
		return 1
	fi
	vs_chunk_record "$idx" "$dev"
	if ! vs_swap_make "$dev"; then
		if vs_swap_active "$dev"; then swapoff "$dev" 2>/dev/null || return 1; fi
		vs_nbd_detach "$dev" && vs_chunk_unrecord "$idx"
		return 1
	fi
}

# vs_chunk_off IDX [say]: swapoff chunk IDX's device when the kernel holds
# it (its claim, not the text of /proc/swaps, decides) and its pages fit
# back in memory, then detach it under the exclusive claim and forget it.
# With "say", tells before a swapoff that may take long. Stops at the first
# step that fails, leaving the chunk attached and serving, and returns
# 1 its pages do not fit (VS_WHY: the figures), 2 swapoff failed (VS_WHY:
# its output), 3 the kernel still holds the device after swapoff (a mount,
# another block device), 4 the detach failed (already said why).
vs_chunk_off() {
	local idx=$1 dev claim
	VS_WHY=""
	dev=$(vs_chunk_dev "$idx")
	[[ -n $dev ]] || return 0
	vs_dev_claim "$dev"
	claim=$?
	# Held (1) or unknown (2): try; absent (3) or free (0): nothing to do.
	if ((claim == 1 || claim == 2)) || vs_swap_active "$dev"; then
		VS_WHY=$(vs_swapoff_fits "$dev") || return 1
		[[ -n ${2:-} ]] && vs_info "swapoff $dev (this reads every swapped page back into RAM and may take a while)"
		VS_WHY=$(vs_run_swapoff "$dev" 2>&1) || { VS_WHY=${VS_WHY//$'\n'/ }; return 2; }
		vs_dev_claim "$dev"
		(($? == 1)) && return 3
	fi
	vs_nbd_detach "$dev" || return 4
	vs_chunk_unrecord "$idx"
}

# vs_chunk_release IDX: vs_chunk_off, then free the chunk in the daemon.
# Any step that fails leaves the chunk attached and serving, and says why.
# The daemon refuses to free a chunk a client is attached to, so the free
# waits (up to 10 s) for the kernel's connections to close.
vs_chunk_release() {
	local idx=$1 dev out i
	dev=$(vs_chunk_dev "$idx")
	vs_chunk_off "$idx"
	case $? in
	0) ;;
	1) vs_err "chunk $idx stays on $dev: its pages do not fit back in memory ($VS_WHY, and 64 MiB must stay free)"; return 1 ;;
	2) vs_err "chunk $idx stays on $dev: swapoff failed: $VS_WHY"; return 1 ;;
	3) vs_err "chunk $idx stays on $dev: the kernel still holds it after swapoff (mounted, or claimed by another block device)"; return 1 ;;
	*) return 1 ;;
	esac
	for ((i = 0; i < 100; i++)); do
		out=$(vs_ctl "free $idx" 2>&1) && return 0
		[[ $out == *"attached"* ]] || break
		sleep 0.1
	done
	vs_err "chunk $idx is detached but the daemon did not free it: ${out#vram-swapd: }"
	return 1
}

# Holds the lock that keeps resize, yield, teardown and the watcher from
# changing chunks at the same time (released when the process ends).
vs_chunk_lock() {
	exec 9>>"$VS_STATE_DIR/chunks.lock" || vs_die "cannot open $VS_STATE_DIR/chunks.lock"
	flock 9 || vs_die "cannot lock $VS_STATE_DIR/chunks.lock"
}

# The chunks the daemon serves on GPU, least worth keeping first: those
# nothing attached (left by an interrupted resize), then by pages in use,
# fewest first. CHUNKS is a parsed `chunks` reply (vs_ctl_read).
vs_chunks_to_release() {
	local -n _ck=$1
	local idx
	for idx in ${_ck[chunk]:-}; do
		[[ ${_ck[chunk.$idx.gpu]} == "$2" ]] || continue
		if [[ -n $(vs_chunk_dev "$idx") ]]; then
			echo "1 ${_ck[chunk.$idx.used]} $idx"
		else
			echo "0 0 $idx"
		fi
	done | sort -n -k1,1 -k2,2 | cut -d' ' -f3
}

# Brings the attached chunks to the daemon's target, GPU by GPU: where it
# holds more chunks than the target, the least worth keeping go first
# (swapoff, detach, free); where fewer, new ones are added and attached.
# Stops at the first chunk that cannot go (it stays attached and serving)
# and says how far it got.
vs_reconcile() {
	local -A tgt=() ck=() added=()
	local gpu have want idx dev rel=0 add=0 fail=0
	vs_ctl_read tgt target || return 1
	for gpu in ${tgt[gpu]:-}; do
		have=${tgt[gpu.$gpu.chunks]} want=${tgt[gpu.$gpu.target]}
		if ((have > want)); then
			vs_ctl_read ck chunks || { fail=1; break; }
			for idx in $(vs_chunks_to_release ck "$gpu"); do
				((have > want)) || break
				dev=$(vs_chunk_dev "$idx")
				vs_chunk_release "$idx" || { fail=1; break; }
				vs_info "released chunk $idx ($(vs_human "${ck[chunk.$idx.size]}") on GPU $gpu${dev:+, was $dev})"
				rel=$((rel + 1))
				have=$((have - 1))
			done
			((fail)) && break
		fi
		while ((have < want)); do
			vs_ctl_read added "add $gpu" || { fail=1; break; }
			idx=${added[chunk]}
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
	done
	if ((fail)); then
		vs_err "stopped after releasing $rel and adding $add chunk(s); every chunk still attached keeps serving, nothing was lost"
		return 1
	fi
	return 0
}
