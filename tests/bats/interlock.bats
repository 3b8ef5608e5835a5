#!/usr/bin/env bats
# The interlock against the real kernel: loop devices stand in for nbd
# devices (this machine has no nbd module; the booted-guest test covers
# nbd), and their claims, swap areas and mount namespaces are real. Only
# nbd-client is a stub, since a loop device has no nbd connection to end.

load helpers

EXCL=$REPO/build/vram-swap-excl

setup() {
	[[ $(id -u) == 0 ]] || skip "needs root (loop devices, swapon)"
	[[ -x $EXCL ]] || fail "$EXCL missing: make builds it"
	T=$BATS_TEST_TMPDIR
	export CALLS=$T/calls VRAM_SWAP_EXCL=$EXCL VRAM_SWAP_INIT_PID=$$
	PATH=$T/bin:$PATH
	export VRAM_SWAP_RUNDIR=$T/run VRAM_SWAP_SYSCONFDIR=$T/etc
	unset VRAM_SWAP_PROCFS VRAM_SWAP_SYSFS VRAM_SWAP_DEVDIR NOTIFY_SOCKET MAINPID
	mkdir -p "$T/bin" "$T/etc/default" "$T/run/vram-swap"
	: >"$CALLS"
	printf '%s\n' VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=64M VRAM_SWAP_MIN_SIZE=64M \
		>"$T/etc/default/vram-swap"
	truncate -s 64M "$T/disk"
	LOOP=$(losetup -f --show "$T/disk") || fail "losetup failed: no loop devices"
	mkswap "$LOOP" >/dev/null
	stub nbd-client 0
	HOLDER=""
	DPID=""
}

teardown() {
	[[ -n ${LOOP:-} ]] || return 0
	kill_pid "$HOLDER"
	kill_pid "$DPID"
	# Background commands must not keep bats' output open (fd 3).
	# Not the stubs of $T/bin.
	PATH=/usr/sbin:/usr/bin:/sbin:/bin swapoff "$LOOP" 2>/dev/null
	losetup -d "$LOOP"
}

# swapon LOOP from a mount namespace of its own, as a sandboxed unit would.
# Propagation is left alone: in a chroot, / is no mount point to change.
swapon_elsewhere() {
	unshare -m --propagation unchanged swapon "$LOOP"
}

# What setup records after attaching LOOP, with a stand-in daemon.
set_up_on_loop() {
	sleep 600 3>&- &
	DPID=$!
	printf '%s\n' chunk.0="$LOOP" connections=1 discard=on export=vram-swap mode=direct \
		pid="$DPID" priority=1000 sleeping=0 >"$T/run/vram-swap/setup.state"
}

in_proc_swaps() { grep -q "^$1[[:space:]]" /proc/swaps; }

@test "kernel: swap enabled in a private mount namespace is listed under a foreign path" {
	swapon_elsewhere
	name=/${LOOP##*/}
	in_proc_swaps "$name" || fail "expected $name in /proc/swaps: $(cat /proc/swaps)"
	if in_proc_swaps "$LOOP"; then fail "$LOOP listed by its own name"; fi
}

@test "vram-swap-excl: free, held by swap, held by another claim; the claim lasts the command" {
	run "$EXCL" "$LOOP"
	assert_success
	swapon "$LOOP"
	run "$EXCL" "$LOOP" touch "$T/ran"
	assert_failure 1
	assert_output --partial "in use by the kernel"
	assert_file_not_exists "$T/ran"
	swapoff "$LOOP"
	# While the command runs, nothing else can claim the device.
	run "$EXCL" "$LOOP" swapon "$LOOP"
	assert_failure
	assert_output --partial "Device or resource busy"
	run "$EXCL" "$LOOP" true
	assert_success
	# ... nor can udev probe it (its shared lock is refused), and a probe
	# running already is waited for.
	run "$EXCL" "$LOOP" flock --nonblock --shared "$LOOP" true
	assert_failure 1
	flock --shared "$LOOP" sleep 1 3>&- &
	sleep 0.2
	start=$(date +%s%N)
	run "$EXCL" "$LOOP" true
	assert_success
	wait
	(($(date +%s%N) - start > 500000000)) || fail "the command ran while a probe held the lock"
	run "$EXCL" /dev/loop-does-not-exist
	assert_failure 3
	run "$EXCL" /etc/passwd
	assert_failure 2
}

@test "teardown: swap enabled from another namespace is swapped off, then detached" {
	set_up_on_loop
	swapon_elsewhere
	run "$TEARDOWN" --keep-daemon
	assert_success
	if in_proc_swaps "/${LOOP##*/}"; then fail "still swap: $(cat /proc/swaps)"; fi
	assert_equal "$(calls)" "nbd-client -d $LOOP"
}

@test "teardown: a device another holder claims is never detached" {
	set_up_on_loop
	"$EXCL" "$LOOP" sleep 600 >/dev/null 2>&1 3>&- &
	HOLDER=$!
	sleep 0.5
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "leaving $LOOP attached and vram-swapd running"
	assert_equal "$(calls)" ""
	kill -0 "$DPID"
}

@test "teardown: swap that cannot be swapped off stays, attached" {
	set_up_on_loop
	swapon "$LOOP"
	# A swapoff that fails as under memory pressure.
	stub swapoff 255 "swapoff: $LOOP: swapoff failed: Cannot allocate memory"
	run "$TEARDOWN"
	assert_failure 1
	assert_output --partial "leaving $LOOP attached"
	in_proc_swaps "$LOOP"
	assert_equal "$(calls)" "swapoff $LOOP"
}

@test "setup: refuses to swapon from a private mount namespace" {
	stub mkswap 0
	stub swapon 0
	run unshare -m --propagation unchanged "$SETUP" --attach
	assert_failure 1
	assert_output --partial "running in a private mount namespace"
	assert_equal "$(calls)" ""
}
