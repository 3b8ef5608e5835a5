#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The elastic tier on a real GPU, without the nbd module (the GPU machines
# have none): vram-swapd with four chunks; two of them under verified NBD
# load (nbdload -V) the whole time, standing in for attached swap; a loop
# standing in for the kernel side, which follows the daemon's target over
# the control socket (frees chunks nobody is attached to, adds chunks back);
# and vramhog, a Driver API program taking most of the free VRAM in steps.
# nvidia-smi is sampled throughout. Results go to OUT (docs/cuda.md reads
# them).
#
#   tests/cuda/elastic-gpu.sh BUILD_DIR OUT     (BUILD_DIR: vram-swapd, vramhog, nbdload)
set -u
B=$1 OUT=$2
D=$B/vram-swapd
CHUNK_G=8
dir=$(mktemp -d)
chmod 700 "$dir"
S=$dir/d.sock
ctl() { "$D" --socket "$S" --ctl "$*"; }
stamp() { date +%s.%N | cut -c1-14; }
log() { echo "$(stamp) $*"; }

( while :; do
	nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader |
		sed "s/^/$(stamp) /"
	nvidia-smi --query-gpu=memory.used,memory.free --format=csv,noheader | sed "s/^/$(stamp) gpu /"
	sleep 0.2
done ) >"$OUT/smi.log" 2>&1 &
smi=$!

"$D" --backend cuda --size $((4 * CHUNK_G))G --chunk ${CHUNK_G}G --reserve 8G \
	--grow-delay 15 --socket "$S" --status-file "$dir/status" >"$OUT/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 300); do grep -q state=serving "$dir/status" 2>/dev/null && break; sleep 0.1; done
{ log start; ctl chunks; ctl gpus; } >"$OUT/follow.log"

# The kernel side's stand-in: chunks with clients are "attached"; only the
# others may go. Sleeps in the daemon's long-poll between changes.
follow() {
	local t gen have want idx
	while t=$(ctl target 2>/dev/null); do
		gen=$(awk '$1 == "target" { print $2 }' <<<"$t")
		read -r _ _ _ have _ want <<<"$(grep '^gpu 0 ' <<<"$t")"
		while ((have > want)); do
			idx=$(ctl chunks | awk '$10 == 0 { i = $2 } END { print i }')
			[[ -n $idx ]] || { log "target $want, chunks $have: the rest are attached, kept"; break; }
			ctl "free $idx" && log "freed chunk $idx (target $want)"
			have=$((have - 1))
		done
		while ((have < want)); do
			ctl add >/dev/null && log "added a chunk (target $want)"
			have=$((have + 1))
		done
		ctl "wait $gen" >/dev/null 2>&1 || break
	done
}
follow >>"$OUT/follow.log" 2>&1 &
fol=$!

load=()
for c in 0 1; do
	"$B/nbdload" -s "$S" -e vram-swap.$c -c 2 -q 8 -V -z $((1 << 30)) -t 100 \
		>"$OUT/load$c.txt" 2>&1 &
	load+=($!)
done
sleep 15
free_g=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | awk '{ print int($1 / 1024) }')
# Most of the free VRAM plus two chunks: the daemon must give two back.
want=$((free_g + 2 * CHUNK_G - 4))
log "hog wants $want GiB with $free_g GiB free" >>"$OUT/follow.log"
"$B/vramhog" "$want" 1 30 >"$OUT/hog.log" 2>&1
log "hog gone" >>"$OUT/follow.log"
sleep 25
ctl chunks >>"$OUT/follow.log"
wait "${load[@]}"
kill "$fol" "$smi" 2>/dev/null
kill -TERM "$daemon"
wait "$daemon"
echo "daemon exit $?" >>"$OUT/follow.log"
