#!/usr/bin/env bats
# vram-swap-teardown with every system command stubbed (unit level).

load helpers

setup() {
	vs_env
	DPID=""
}

teardown() {
	kill_pid "$DPID"
}

# A set-up state: stub daemon running, /dev/nbd0 attached and swapped on.
set_up() {
	DPID=$(start_stub_daemon)
	write_state "$DPID" "${1:-direct}"
	swap_on_nbd0
}

@test "teardown: --help prints usage and exits 0" {
	run "$TEARDOWN" --help
	assert_success
	assert_output --partial "Usage: vram-swap-teardown"
	assert_output --partial "swapoff"
}

@test "teardown: an unknown option is a usage error (exit 2)" {
	run "$TEARDOWN" --force
	assert_failure 2
	assert_output --partial "unknown option '--force'"
}

@test "teardown: refuses to run as non-root" {
	set_up
	STUB_UID=1000 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "must run as root"
	assert_equal "$(calls)" ""
}

@test "teardown: nothing set up is not an error" {
	run "$TEARDOWN"
	assert_success
	assert_output --partial "vram-swap is not set up; nothing to do"
	assert_equal "$(calls)" ""
}

@test "teardown: swapoff, detach, stop the daemon, in that order; then idempotent" {
	set_up
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0"
	assert_output --partial "vram-swap is off"
	refute_alive "$DPID"
	assert_file_not_exists "$STATE"
	assert_file_not_exists "$RUNDIR/status"
	run grep nbd0 "$T/proc/swaps"
	assert_failure
	: >"$CALLS"
	run "$TEARDOWN"
	assert_success
	assert_output --partial "nothing to do"
	assert_equal "$(calls)" ""
}

@test "teardown: swapoff failing leaves everything attached and says so" {
	set_up
	STUB_SWAPOFF_FAIL=1 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "swapoff /dev/nbd0 failed: swapoff: /dev/nbd0: swapoff failed: Cannot allocate memory"
	assert_output --partial "leaving /dev/nbd0 attached and vram-swapd running: detaching now would lose the pages"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	kill -0 "$DPID"
	run cat "$STATE"
	assert_line chunk.0=/dev/nbd0
	# Once memory is free again, the same command finishes the job.
	run "$TEARDOWN"
	assert_success
	refute_alive "$DPID"
}

@test "teardown: refuses before swapoff when the swapped pages cannot fit in memory" {
	set_up
	# 60000 KiB swapped out, 10000 KiB of RAM available, no other swap.
	sed -i 's|^/dev/nbd0\t.*|/dev/nbd0\tpartition\t65532\t60000\t1000|' "$T/proc/swaps"
	printf 'MemTotal: 100000 kB\nMemAvailable: 10000 kB\nSwapTotal: 65532 kB\nSwapFree: 5532 kB\n' >"$T/proc/meminfo"
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "refusing to swapoff /dev/nbd0: its pages do not fit back in memory (60000 KiB swapped out to /dev/nbd0; 10000 KiB of RAM available and 0 KiB free on other swap"
	assert_output --partial "leaving /dev/nbd0 attached and vram-swapd running"
	assert_equal "$(calls)" ""
	kill -0 "$DPID"
	# With the memory there, the same command goes ahead.
	printf 'MemTotal: 1000000 kB\nMemAvailable: 900000 kB\nSwapTotal: 65532 kB\nSwapFree: 5532 kB\n' >"$T/proc/meminfo"
	run "$TEARDOWN"
	assert_success
	refute_alive "$DPID"
}

@test "teardown: nbd-client -d failing keeps the daemon" {
	set_up
	stub nbd-client 1 "nbd-client: Cannot open NBD: Permission denied"
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "nbd-client -d /dev/nbd0 failed: nbd-client: Cannot open NBD: Permission denied"
	assert_output --partial "swap is off, /dev/nbd0 is still attached and vram-swapd is left running"
	kill -0 "$DPID"
	run grep nbd0 "$T/proc/swaps"
	assert_failure
	run cat "$STATE"
	assert_line chunk.0=/dev/nbd0
}

@test "teardown: swap already off (e.g. swapoff by hand) still detaches and stops" {
	set_up
	grep -v nbd0 "$T/proc/swaps" >"$T/swaps" && mv "$T/swaps" "$T/proc/swaps"
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "nbd-client -d /dev/nbd0"
	refute_alive "$DPID"
}

@test "teardown: setup through systemd is stopped through systemctl" {
	set_up systemd
	stub_script systemctl '[[ $1 != is-failed ]]'   # the unit is not failed
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0
systemctl stop vram-swap.service
systemctl is-failed --quiet vram-swap.service"
	assert_file_not_exists "$STATE"
}

# The unit's ExecStop= is teardown --keep-daemon, which takes the chunk
# lock: a teardown that held it across 'systemctl stop' made the stop wait
# until its timeout and left the unit failed.
@test "teardown: the chunk lock is free while systemctl stop runs" {
	set_up systemd
	stub_script systemctl '[[ $1 == stop ]] || exit 1
flock -n -E 9 "'"$RUNDIR"'/chunks.lock" true || { echo "ExecStop would wait for the chunk lock" >&2; exit 1; }'
	run "$TEARDOWN"
	assert_success
	assert_file_not_exists "$STATE"
}

@test "teardown: a unit failed by an earlier refused stop ends reset" {
	set_up systemd
	stub systemctl 0
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls | grep systemctl)" "systemctl stop vram-swap.service
systemctl is-failed --quiet vram-swap.service
systemctl reset-failed vram-swap.service"
}

@test "teardown: systemctl stop failing is reported" {
	set_up systemd
	stub systemctl 1 "Failed to stop vram-swap.service: Access denied"
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "systemctl stop vram-swap.service failed: Failed to stop vram-swap.service: Access denied; swap is off and detached"
}

@test "teardown: --keep-daemon (the unit's ExecStop) swaps off and detaches only" {
	set_up systemd
	run "$TEARDOWN" --keep-daemon
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0"
	kill -0 "$DPID"
	run cat "$STATE"
	assert_line mode=systemd
	refute_line --partial chunk.
}

@test "teardown: --sleep detaches and marks the swap for re-attachment" {
	set_up systemd
	run "$TEARDOWN" --sleep
	assert_success
	assert_output --partial "off and detached for sleep"
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0"
	kill -0 "$DPID"
	run cat "$STATE"
	assert_line sleeping=1
}

@test "teardown: --sleep refuses the sleep when swapoff fails" {
	set_up systemd
	STUB_SWAPOFF_FAIL=1 run "$TEARDOWN" --sleep
	assert_failure 1
	assert_output --partial "refusing to sleep: swapoff /dev/nbd0 failed"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	run cat "$STATE"
	refute_line sleeping=1
}

@test "teardown: --sleep with a record but no daemon and no swap does nothing" {
	write_state 999999 systemd
	run "$TEARDOWN" --sleep
	assert_success
	assert_equal "$(calls)" ""
	run cat "$STATE"
	refute_line sleeping=1
}

@test "teardown: a running daemon without setup's record is not touched" {
	DPID=$(start_stub_daemon)
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "vram-swapd (pid $DPID) is running, but $STATE"
	kill -0 "$DPID"
	assert_equal "$(calls)" ""
}

@test "teardown: a daemon that does not exit after SIGTERM is reported" {
	set_up
	# A daemon still draining: it ignores SIGTERM while a client is attached.
	kill_pid "$DPID"
	stub_script vram-swapd 'trap "" TERM; echo pid=$$ >"$VRAM_SWAP_RUNDIR/vram-swap/status"
while :; do sleep 0.1; done'
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	VRAM_SWAP_STOP_TIMEOUT=1 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "vram-swapd (pid $DPID) is still running 1 s after SIGTERM; swap is off and detached"
	kill -KILL "$DPID"
}

# Swap enabled from another mount namespace is listed as /nbd0, a path
# nothing here resolves: the kernel's claim, not the text, decides.
swap_on_nbd0_elsewhere() {
	printf '/nbd0\tpartition\t65532\t4096\t1000\n' >>"$T/proc/swaps"
}

@test "teardown: swap listed under a foreign path is still swapped off before the detach" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0_elsewhere
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0"
	refute_alive "$DPID"
}

@test "teardown: swap listed under a foreign path whose swapoff fails detaches nothing" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	swap_on_nbd0_elsewhere
	STUB_SWAPOFF_FAIL=1 run "$TEARDOWN" --keep-daemon
	assert_failure 1
	assert_output --partial "swapoff /dev/nbd0 failed"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	kill -0 "$DPID"
	run cat "$STATE"
	assert_line chunk.0=/dev/nbd0
}

@test "teardown: a device the kernel holds for something other than swap is not detached" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	stub swapoff 255 "swapoff: /dev/nbd0: swapoff failed: Invalid argument"
	STUB_EXCL_HELD=1 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "swapoff /dev/nbd0 failed"
	assert_output --partial "leaving /dev/nbd0 attached"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	kill -0 "$DPID"
}

@test "teardown: the detach itself is refused while the kernel holds the device" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	# swapoff "succeeds" but the claim stays (say, a mount appeared).
	stub swapoff 0
	STUB_EXCL_HELD=1 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "still held by the kernel after swapoff"
	refute_output --partial "vram-swap is off"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	kill -0 "$DPID"
}

# An upgrade with the tier up: the record is the old version's, which named
# its first chunk by keys of its own (nbd_device, chunk, attached, swap).
@test "teardown: a record written by the old version is torn down, every chunk of it" {
	DPID=$(start_stub_daemon)
	write_old_state "$DPID" direct chunk.1=/dev/nbd1
	swap_on_nbd0
	printf '/dev/nbd1\tpartition\t65532\t0\t1000\n' >>"$T/proc/swaps"
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0
swapoff /dev/nbd1
nbd-client -d /dev/nbd1"
	assert_output --partial "vram-swap is off: swap on /dev/nbd0 /dev/nbd1 disabled"
	refute_alive "$DPID"
	assert_file_not_exists "$STATE"
}

@test "teardown: an old record whose first chunk is detached leaves it alone" {
	DPID=$(start_stub_daemon)
	write_old_state "$DPID" systemd chunk.1=/dev/nbd1
	sed -i 's/^attached=1/attached=0/; s/^swap=1/swap=0/' "$STATE"
	printf '/dev/nbd1\tpartition\t65532\t0\t1000\n' >>"$T/proc/swaps"
	run "$TEARDOWN" --keep-daemon
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd1
nbd-client -d /dev/nbd1"
	# Written again, the record has the new form: no chunk left.
	run cat "$STATE"
	assert_line mode=systemd
	refute_line --regexp '^(nbd_device|attached|swap|chunk)(\.[0-9]+)?='
}

@test "teardown: several chunks are each swapped off and detached, in order" {
	DPID=$(start_stub_daemon)
	write_state "$DPID"
	echo chunk.2=/dev/nbd1 >>"$STATE"
	swap_on_nbd0
	printf '/dev/nbd1\tpartition\t65532\t0\t1000\n' >>"$T/proc/swaps"
	STUB_SWAPOFF_FAIL=1 run "$TEARDOWN"
	assert_failure 1
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	run cat "$STATE"
	assert_line chunk.0=/dev/nbd0
	assert_line chunk.2=/dev/nbd1
	: >"$CALLS"
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0
swapoff /dev/nbd1
nbd-client -d /dev/nbd1"
}
