#!/usr/bin/env bats
# The real vram-swapd (host backend) started and stopped by the real
# scripts. Only what needs the nbd kernel module, which this machine lacks,
# is stubbed: modprobe, the kernel half of the daemon's attach (its netlink
# connect), mkswap, swapon and swapoff. The real nbd-client still talks to
# the daemon: the readiness check and every listing run it.

load helpers

DAEMON=$REPO/build/vram-swapd

setup() {
	vs_env
	[[ -x $DAEMON ]] || fail "$DAEMON missing: run make first"
	rm "$T/bin/vram-swapd"
	real_daemon_but_kernel
	REAL_NBD_CLIENT=$(PATH=${PATH#"$T/bin:"} command -v nbd-client) ||
		fail "the real nbd-client is needed"
	export REAL_NBD_CLIENT
	stub_script nbd-client '
case " $* " in
*" -l "*) exec "$REAL_NBD_CLIENT" "$@" ;;
*" -d "*) dev=${!#}; rm -f "$VRAM_SWAP_SYSFS/block/${dev##*/}/pid"; exit 0 ;;
esac
echo "nbd-client stub: unexpected call (the daemon attaches devices itself)" >&2
exit 1'
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=64M VRAM_SWAP_MIN_SIZE=4M \
		VRAM_SWAP_CONNECTIONS=2
}

teardown() {
	kill_recorded_daemon
}

@test "integration: setup, status, refused teardown, teardown with the real daemon" {
	run "$SETUP"
	assert_success
	assert_output --partial "vram-swap is active"
	assert_output --partial "size:     64.0 MiB"
	assert_equal "$(calls)" "modprobe nbd
nbd-client -unix $SOCK -l
vram-swapd --socket $SOCK --ctl attach 0 0 2
mkswap -L vram-swap /dev/nbd0
swapon -p 1000 --discard=pages /dev/nbd0
swapon --show"
	pid=$(sed -n 's/^pid=//p' "$STATE")
	assert_equal "$(cat "/proc/$pid/comm")" vram-swapd
	run "$REAL_NBD_CLIENT" -unix "$SOCK" -l
	assert_line vram-swap.0

	run "$STATUS"
	assert_success
	assert_line "vram-swap: active"
	assert_line "  daemon:    running, pid $pid, serving (started directly)"
	assert_line "  backend:   host (RAM, for testing)"
	assert_line --partial "  export:    vram-swap on $SOCK: 64.0 MiB, 0 B in use"
	assert_line "  swap:      0 B used of 64.0 MiB, priority 1000"
	assert_line "  errors:    0 I/O, 0 protocol"

	run "$STATUS" --json
	assert_success
	json_expect active=true 'backend="host"' "daemon.pid=$pid" 'daemon.state="serving"' \
		export.size_bytes=67108864 "export.socket=\"$SOCK\"" swap.priority=1000 \
		counters.io_errors=0 counters.proto_errors=0

	# swapoff fails: nothing else is touched, the daemon keeps serving.
	: >"$CALLS"
	STUB_SWAPOFF_FAIL=1 run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "leaving /dev/nbd0 attached and vram-swapd running"
	assert_equal "$(calls)" "swapoff /dev/nbd0"
	kill -0 "$pid"
	run "$REAL_NBD_CLIENT" -unix "$SOCK" -l
	assert_line vram-swap.0
	grep -qx chunk.0=/dev/nbd0 "$STATE"

	: >"$CALLS"
	run "$TEARDOWN"
	assert_success
	assert_equal "$(calls)" "swapoff /dev/nbd0
nbd-client -d /dev/nbd0"
	refute_alive "$pid"
	assert_file_not_exists "$SOCK"
	assert_file_not_exists "$RUNDIR/status"
	assert_file_not_exists "$STATE"

	run "$TEARDOWN"
	assert_success
	assert_output --partial "nothing to do"
	run "$STATUS"
	assert_failure 3
	assert_line "vram-swap: not set up"
}

@test "integration: the daemon's own error reaches the user, nothing is left" {
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=64T VRAM_SWAP_MIN_SIZE=64T
	run "$SETUP"
	assert_failure 1
	assert_output --partial "vram-swapd exited with status 1 before it was ready"
	assert_output --partial "host: cannot allocate even --min-size"
	run calls
	refute_line --partial "--ctl attach"
	assert_file_not_exists "$STATE"
	assert_file_not_exists "$SOCK"
}

@test "integration: a second setup finds the running swap; a busy socket is refused" {
	run "$SETUP"
	assert_success
	pid=$(sed -n 's/^pid=//p' "$STATE")
	run "$SETUP"
	assert_success
	assert_output --partial "swap is already active on /dev/nbd0; nothing to do"
	assert_equal "$(sed -n 's/^pid=//p' "$STATE")" "$pid"
	# A record lost while the daemon serves: setup must not start another
	# daemon on the same socket.
	mv "$STATE" "$T/state.saved"
	run "$SETUP"
	mv "$T/state.saved" "$STATE"
	assert_failure 1
	assert_output --partial "vram-swapd is already running (pid $pid)"
}

@test "integration: --sleep then --resume, as vram-swap-sleep.service does around suspend" {
	run "$SETUP"
	assert_success
	pid=$(sed -n 's/^pid=//p' "$STATE")
	run "$TEARDOWN" --sleep
	assert_success
	kill -0 "$pid"
	grep -qx sleeping=1 "$STATE"
	: >"$CALLS"
	run "$SETUP" --resume
	assert_success
	assert_equal "$(calls)" "modprobe nbd
vram-swapd --socket $SOCK --ctl attach 0 0 2
mkswap -L vram-swap /dev/nbd0
swapon -p 1000 --discard=pages /dev/nbd0"
	run "$STATUS"
	assert_success
}

@test "integration: every setting reaches the real daemon through its environment, over an inherited one" {
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=128M VRAM_SWAP_MIN_SIZE=4M \
		VRAM_SWAP_CHUNK=64M VRAM_SWAP_EXPORT=swp VRAM_SWAP_AUTO=off \
		VRAM_SWAP_MAX_CLIENTS=5 VRAM_SWAP_CONNECTIONS=2
	# The file's value wins over one the caller's environment happens to hold.
	VRAM_SWAP_EXPORT=inherited VRAM_SWAP_CHUNK=32M run "$SETUP"
	assert_success
	run cat "$RUNDIR/status"
	assert_line export=swp
	assert_line chunk_bytes=67108864
	assert_line chunks=2
	assert_line auto=off
	run "$DAEMON" --socket "$SOCK" --ctl target
	assert_line --regexp '^target [0-9]+ cap 134217728 chunk 67108864 total 2 auto off '
	run "$REAL_NBD_CLIENT" -unix "$SOCK" -l
	assert_line swp.0
	assert_line swp.1
	run "$TEARDOWN"
	assert_success
}
