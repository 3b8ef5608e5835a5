#!/usr/bin/env bats
# Chunks, vram-swap-resize and vram-swap-yield with the real daemon (host
# backend) and the real nbd-client negotiating each chunk's export; only
# the kernel-facing steps are stubbed, as in integration.bats. (Without the
# nbd module the kernel's connections end after negotiating, so the
# daemon's refusal to free an attached chunk is tested in
# tests/nbd/test_chunks.py instead.)

load helpers

DAEMON=$REPO/build/vram-swapd
RESIZE=$REPO/scripts/vram-swap-resize
YIELD=$REPO/scripts/vram-swap-yield

setup() {
	vs_env
	real_daemon
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=256M VRAM_SWAP_MIN_SIZE=4M \
		VRAM_SWAP_CHUNK=64M VRAM_SWAP_CONNECTIONS=1
}

teardown() {
	kill_recorded_daemon
}

swaps() { grep -c '^/dev/nbd' "$T/proc/swaps" || true; }
chunks() { "$DAEMON" --socket "$SOCK" --ctl chunks | wc -l; }

@test "chunks: setup attaches every chunk as its own swap area at one priority" {
	run "$SETUP"
	assert_success
	assert_output --partial "size:     256.0 MiB in 4 chunk(s)"
	assert_output --partial "device:   /dev/nbd0 /dev/nbd1 /dev/nbd2 /dev/nbd3"
	run calls
	for i in 0 1 2 3; do
		assert_line "vram-swapd --socket $SOCK --ctl attach $i $i 1"
		assert_line "swapon -p 1000 --discard=pages /dev/nbd$i"
	done
	assert_equal "$(swaps)" 4
	run "$STATUS"
	assert_success
	assert_output --partial "chunk 3:  GPU 0, 64.0 MiB, 0 B in use, 0 pages stored, 0 client(s), /dev/nbd3 (swap)"
	assert_output --partial "GPU 0:     "
	run "$STATUS" --json
	json_expect active=true 'target_chunks=4'
	[[ $(grep -o '"index": [0-9], "gpu"' <<<"$output" | wc -l) == 4 ]]
	run "$TEARDOWN"
	assert_success
	assert_equal "$(swaps)" 0
	run calls
	for i in 0 1 2 3; do assert_line "nbd-client -d /dev/nbd$i"; done
}

@test "resize: shrink to two, grow back, each step in the kernel's order" {
	"$SETUP" >/dev/null
	: >"$CALLS"
	run "$RESIZE" 128M
	assert_success
	assert_output --partial "released chunk"
	assert_output --partial "the tier now holds 2 chunk(s)"
	assert_equal "$(chunks)" 2
	assert_equal "$(swaps)" 2
	# swapoff before the detach, for each chunk released.
	run calls
	assert_equal "$(grep -c '^swapoff ' "$CALLS")" 2
	assert_equal "$(grep -c '^nbd-client -d ' "$CALLS")" 2
	first_off=$(grep -n '^swapoff ' "$CALLS" | head -1 | cut -d: -f1)
	first_d=$(grep -n '^nbd-client -d ' "$CALLS" | head -1 | cut -d: -f1)
	((first_off < first_d))
	run "$RESIZE" max
	assert_success
	assert_output --partial "added chunk"
	assert_equal "$(chunks)" 4
	assert_equal "$(swaps)" 4
	run "$TEARDOWN"
	assert_success
	assert_equal "$(swaps)" 0
}

@test "resize: a shrink whose swapoff fails stops, says so, and keeps every chunk" {
	"$SETUP" >/dev/null
	: >"$CALLS"
	STUB_SWAPOFF_FAIL=1 run "$RESIZE" 64M
	assert_failure 1
	assert_output --partial "swapoff failed"
	assert_output --partial "stopped after releasing 0 and adding 0 chunk(s); every chunk still attached keeps serving, nothing was lost"
	assert_equal "$(chunks)" 4
	assert_equal "$(swaps)" 4
	run calls
	refute_line --partial "nbd-client -d"
}

@test "resize: bad input changes nothing" {
	run "$RESIZE" 1G
	assert_failure 1
	assert_output --partial "vram-swap is not set up: run vram-swap-setup first; nothing was changed"
	"$SETUP" >/dev/null
	: >"$CALLS"
	run "$RESIZE" 1M
	assert_failure 1
	assert_output --partial "'1M' is less than one chunk (64 MiB): use 0 or at least 64 MiB; nothing was changed"
	run "$RESIZE" 8GB
	assert_failure 1
	assert_output --partial "invalid size '8GB'"
	run "$RESIZE"
	assert_failure 2
	assert_equal "$(calls)" ""
	assert_equal "$(chunks)" 4
}

@test "yield: frees every chunk for the command's life, then grows back; its status is the command's" {
	"$SETUP" >/dev/null
	run "$YIELD" -- bash -c "grep -c '^/dev/nbd' $T/proc/swaps > $T/during; $DAEMON --socket $SOCK --ctl chunks | wc -l >> $T/during; exit 7"
	assert_failure 7
	assert_equal "$(cat "$T/during")" "0
0"
	assert_equal "$(chunks)" 4
	assert_equal "$(swaps)" 4
	run "$YIELD" --size 100M -- bash -c "$DAEMON --socket $SOCK --ctl chunks | wc -l > $T/during"
	assert_success
	assert_equal "$(cat "$T/during")" 2
	assert_equal "$(chunks)" 4
}

@test "yield: not set up, the command still runs" {
	run "$YIELD" -- echo hello
	assert_success
	assert_output --partial "not set up: running echo with nothing to free"
	assert_line hello
}
