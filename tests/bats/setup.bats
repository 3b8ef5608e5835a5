#!/usr/bin/env bats
# vram-swap-setup with every system command stubbed (unit level).

load helpers

setup() {
	vs_env
}

teardown() {
	kill_recorded_daemon
}

NVSMI_QUERY='nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total,memory.free --format=csv,noheader,nounits'
# The daemon as setup starts it with the default settings: every one in
# its environment, none as a flag.
daemon_call() {
	echo "VRAM_SWAP_SIZE=75% VRAM_SWAP_MIN_SIZE=1G VRAM_SWAP_STEP=512M VRAM_SWAP_DEVICE=0 VRAM_SWAP_BACKEND=cuda VRAM_SWAP_PRIORITY=1000 VRAM_SWAP_CONNECTIONS=4 VRAM_SWAP_NBD_DEVICE=auto VRAM_SWAP_DISCARD=on VRAM_SWAP_SOCKET=$SOCK VRAM_SWAP_EXPORT=vram-swap VRAM_SWAP_MAX_CLIENTS=64 VRAM_SWAP_CHUNK=auto VRAM_SWAP_RESERVE=20% VRAM_SWAP_AUTO=on VRAM_SWAP_GROW_DELAY=60 VRAM_SWAP_ON_BATTERY=keep VRAM_SWAP_COMPRESS=off VRAM_SWAP_RATIO=2 VRAM_SWAP_RESTART_WAIT=60 vram-swapd --status-file $RUNDIR/status"
}

@test "setup: --help prints usage and exits 0" {
	run "$SETUP" --help
	assert_success
	assert_output --partial "Usage: vram-swap-setup [--check] [--enable]"
	assert_output --partial "--check"
	assert_equal "$(calls)" ""
}

@test "setup: an unknown option is a usage error (exit 2)" {
	run "$SETUP" --frobnicate
	assert_failure 2
	assert_output --partial "unknown option '--frobnicate'"
}

@test "setup: refuses to run as non-root, before anything else" {
	STUB_UID=1000 run "$SETUP"
	assert_failure 1
	assert_output --partial "must run as root"
	assert_equal "$(calls)" ""
}

@test "setup: full run starts the daemon and attaches, in order" {
	run "$SETUP"
	assert_success
	assert_equal "$(calls)" "$NVSMI_QUERY
modprobe nbd
$(daemon_call)
nbd-client -unix $SOCK -l
vram-swapd --socket $SOCK --ctl chunks
vram-swapd --socket $SOCK --ctl attach 0 0 4
mkswap -L vram-swap /dev/nbd0
swapon -p 1000 --discard=pages /dev/nbd0
swapon --show"
	assert_output --partial "vram-swap is active"
	assert_output --partial "GPU:      NVIDIA H100 80GB HBM3 (GPU-1b2c3d4e-0000-1111-2222-333344445555, 0000:65:00.0)"
	assert_output --partial "size:     64.0 MiB"
	assert_output --partial "device:   /dev/nbd0 (4 connections, discard on)"
	assert_output --partial "priority: 1000"
	assert_file_exists "$STATE"
	run cat "$STATE"
	assert_line "mode=direct"
	assert_line "chunk.0=/dev/nbd0"
	assert_line "connections=4"
	# Every chunk alike: none is named by keys of its own.
	refute_line --regexp '^(nbd_device|attached|swap|chunk)='
	pid=$(sed -n 's/^pid=//p' "$STATE")
	[[ $(cat "/proc/$pid/comm") == vram-swapd ]]
	[[ $(stat -c %a "$RUNDIR") == 700 ]]
}

@test "setup: settings from the defaults file reach the daemon, nbd-client and swapon" {
	write_defaults VRAM_SWAP_SIZE=2G VRAM_SWAP_MIN_SIZE=512M VRAM_SWAP_STEP=256M \
		VRAM_SWAP_DEVICE=1 VRAM_SWAP_PRIORITY=77 VRAM_SWAP_CONNECTIONS=2 \
		VRAM_SWAP_NBD_DEVICE=/dev/nbd1 VRAM_SWAP_DISCARD=off VRAM_SWAP_EXPORT=swp \
		VRAM_SWAP_MAX_CLIENTS=3
	STUB_EXPORT=swp.0 run "$SETUP"
	assert_success
	run calls
	assert_line "VRAM_SWAP_SIZE=2G VRAM_SWAP_MIN_SIZE=512M VRAM_SWAP_STEP=256M VRAM_SWAP_DEVICE=1 VRAM_SWAP_BACKEND=cuda VRAM_SWAP_PRIORITY=77 VRAM_SWAP_CONNECTIONS=2 VRAM_SWAP_NBD_DEVICE=/dev/nbd1 VRAM_SWAP_DISCARD=off VRAM_SWAP_SOCKET=$SOCK VRAM_SWAP_EXPORT=swp VRAM_SWAP_MAX_CLIENTS=3 VRAM_SWAP_CHUNK=auto VRAM_SWAP_RESERVE=20% VRAM_SWAP_AUTO=on VRAM_SWAP_GROW_DELAY=60 VRAM_SWAP_ON_BATTERY=keep VRAM_SWAP_COMPRESS=off VRAM_SWAP_RATIO=2 VRAM_SWAP_RESTART_WAIT=60 vram-swapd --status-file $RUNDIR/status"
	assert_line "vram-swapd --socket $SOCK --ctl attach 0 1 2"
	assert_line "swapon -p 77 /dev/nbd1"
}

@test "setup: the host backend needs no GPU" {
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=64M VRAM_SWAP_MIN_SIZE=4M
	rm "$T/bin/nvidia-smi"
	run "$SETUP"
	assert_success
	run calls
	refute_line --partial nvidia-smi
	assert_line --regexp "^VRAM_SWAP_SIZE=64M VRAM_SWAP_MIN_SIZE=4M VRAM_SWAP_STEP=512M VRAM_SWAP_DEVICE=0 VRAM_SWAP_BACKEND=host .* vram-swapd --status-file $RUNDIR/status\$"
}

@test "setup: second run reports the active swap and changes nothing" {
	run "$SETUP"
	assert_success
	: >"$CALLS"
	run "$SETUP"
	assert_success
	assert_output --partial "swap is already active on /dev/nbd0; nothing to do"
	assert_equal "$(calls)" "swapon --show"
}

@test "setup: nvidia-smi missing is named with the fix" {
	rm "$T/bin/nvidia-smi"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "nvidia-smi not found: install the NVIDIA driver utilities"
	assert_equal "$(calls)" ""
	assert_file_not_exists "$STATE"
}

@test "setup: nvidia-smi's driver/library mismatch (exit 18) is recognised" {
	stub nvidia-smi 18 "Failed to initialize NVML: Driver/library version mismatch"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "NVIDIA driver/library version mismatch (nvidia-smi: Failed to initialize NVML: Driver/library version mismatch)"
	assert_output --partial "reboot"
	assert_equal "$(calls)" "$NVSMI_QUERY"
}

@test "setup: other nvidia-smi failures are shown with its output" {
	stub nvidia-smi 9 "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
	run "$SETUP"
	assert_failure 1
	assert_output --partial "nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate"
}

@test "setup: kernel module version differing from libcuda's is a mismatch" {
	echo 575.57.08 >"$T/sys/module/nvidia/version"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "version mismatch: kernel module 575.57.08, libcuda.so.1 -> $T/lib/libcuda.so.580.159.04 (580.159.04)"
	assert_equal "$(calls)" "$NVSMI_QUERY"
}

@test "setup: module version from /proc/driver/nvidia/version when sysfs lacks it" {
	rm "$T/sys/module/nvidia/version"
	mkdir -p "$T/proc/driver/nvidia"
	echo "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.1.2  Tue Jan  1 00:00:00 UTC 2025" \
		>"$T/proc/driver/nvidia/version"
	run "$SETUP" --check
	assert_failure 1
	assert_output --partial "kernel module 570.1.2, libcuda.so.1"
}

@test "setup: libcuda.so.1 found through ldconfig -p" {
	unset VRAM_SWAP_LIBCUDA
	mkdir -p "$T/lib32"
	ln -s /nonexistent/libcuda.so.1.2.3 "$T/lib32/libcuda.so.1"
	stub ldconfig 0 "	libcudart.so.12 (libc6,x86-64) => /usr/lib/libcudart.so.12
	libcuda.so.1 (libc6) => $T/lib32/libcuda.so.1
	libcuda.so.1 (libc6,x86-64) => $T/lib/libcuda.so.1"
	run "$SETUP" --check
	assert_success
	run "$SETUP" --check
	assert_line --partial "all checks passed"
	stub ldconfig 0 "	libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"
	run "$SETUP" --check
	assert_failure 1
	assert_output --partial "libcuda.so.1 not found by the dynamic loader"
}

@test "setup: a GPU that is not there is named, with the list of GPUs" {
	write_defaults VRAM_SWAP_DEVICE=3
	run "$SETUP"
	assert_failure 1
	assert_output --partial "no GPU matches VRAM_SWAP_DEVICE=3 in $DEFAULTS"
	assert_output --partial "1  GPU-99999999-8888-7777-6666-555544443333  00000000:B3:00.0"
	refute_output --partial "modprobe"
}

@test "setup: GPU chosen by UUID and by short PCI bus id" {
	write_defaults VRAM_SWAP_DEVICE=GPU-99999999-8888-7777-6666-555544443333
	run "$SETUP" --check
	assert_success
	assert_output --partial "GPU: NVIDIA H100 80GB HBM3 (GPU-99999999-8888-7777-6666-555544443333, 00000000:B3:00.0), 81000 MiB of 81559 MiB free"
	write_defaults VRAM_SWAP_DEVICE=b3:00.0
	run "$SETUP" --check
	assert_success
	assert_output --partial "GPU-99999999-8888-7777-6666-555544443333"
}

@test "setup: modprobe nbd failing stops before the daemon starts" {
	stub modprobe 1 "modprobe: FATAL: Module nbd not found in directory /lib/modules/6.1.0-test"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "modprobe nbd failed: modprobe: FATAL: Module nbd not found"
	assert_equal "$(calls)" "$NVSMI_QUERY
modprobe nbd"
	assert_file_not_exists "$STATE"
}

@test "setup: no /dev/nbd* after modprobe is reported" {
	rm "$T"/dev/nbd*
	VRAM_SWAP_UDEV_WAIT=2 run "$SETUP"
	assert_failure 1
	assert_output --partial "the nbd module is loaded but $T/dev/nbd* does not exist"
	refute_output --partial "vram-swapd"
}

@test "setup: nbd-client missing is named with the package" {
	write_defaults VRAM_SWAP_BACKEND=host
	rm "$T/bin/nbd-client"
	strict_path
	run "$SETUP"
	assert_failure 1
	assert_output --partial "nbd-client not found: install it (Debian/Ubuntu: apt install nbd-client"
	assert_equal "$(calls)" ""
}

@test "setup: auto skips a busy nbd device" {
	echo 1234 >"$T/sys/block/nbd0/pid"
	run "$SETUP"
	assert_success
	run calls
	assert_line "vram-swapd --socket $SOCK --ctl attach 0 1 4"
}

@test "setup: a named nbd device in use is refused" {
	write_defaults VRAM_SWAP_NBD_DEVICE=/dev/nbd0
	echo 2097152 >"$T/sys/block/nbd0/size"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "/dev/nbd0 is already in use by another nbd client"
	refute_output --partial "vram-swapd"
}

@test "setup: swap already active on the named device (not ours) is refused" {
	write_defaults VRAM_SWAP_NBD_DEVICE=nbd0
	swap_on_nbd0
	run "$SETUP"
	assert_failure 1
	assert_output --partial "swap is already active on /dev/nbd0, not set up by vram-swap"
}

@test "setup: never swaps on the hibernation resume device" {
	echo 43:0 >"$T/sys/power/resume"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "/dev/nbd0 (43:0) is the hibernation resume device"
}

@test "setup: --check runs the preflight and changes nothing" {
	run "$SETUP" --check
	assert_success
	assert_output --partial "all checks passed; nothing was changed"
	assert_equal "$(calls)" "$NVSMI_QUERY"
	assert_file_not_exists "$STATE"
	assert_file_not_exists "$RUNDIR"
}

@test "setup: --check after the unit's daemon died with its holder refuses a new tier over the lost pages" {
	# The holder starts a crashed daemon again by itself; ExecStartPre= runs
	# only once it died too, and the pages with it.
	write_state 999999 systemd
	echo 1 >"$T/sys/block/nbd0/pid"
	echo "vram-swap:vram-swap.0:0123456789abcdef:0" >"$T/sys/block/nbd0/backend"
	swap_on_nbd0
	mkdir -p "$RUNDIR"
	golden_status "$RUNDIR/status" pid=999999 crash_safe=yes
	run "$SETUP" --check
	assert_failure 1
	assert_output "vram-swap-setup: error: vram-swapd died, and the pages on /dev/nbd0 with it (the unit's vram-swap-holder, which keeps them, is gone too); run vram-swap-teardown to take those swap areas off before starting anew"
	assert_equal "$(calls)" ""
	# Without the kernel's backend name the device is someone else's.
	rm "$T/sys/block/nbd0/backend"
	run "$SETUP" --check
	refute_output --partial "vram-swapd died"
}

@test "setup: --check with the nbd module not loaded only asks modprobe -n" {
	rmdir "$T/sys/module/nbd"
	rm "$T"/dev/nbd*
	run "$SETUP" --check
	assert_success
	assert_output --partial "nbd module: not loaded yet"
	assert_equal "$(calls)" "$NVSMI_QUERY
modprobe -n nbd"
}

@test "setup: the daemon's own error is shown when it fails to start" {
	STUB_DAEMON_EXIT=2 STUB_DAEMON_MSG="bad setting --size '75%': no GPU memory free" run "$SETUP"
	assert_failure 1
	assert_output --partial "vram-swapd exited with status 2 before it was ready"
	assert_output --partial "| vram-swapd: bad setting --size '75%': no GPU memory free"
	run calls
	refute_line --partial "--ctl attach"
	assert_file_not_exists "$STATE"
}

@test "setup: a daemon that never becomes ready is stopped after the bounded wait" {
	STUB_DAEMON_HANG=1 VRAM_SWAP_START_TIMEOUT=1 run "$SETUP"
	assert_failure 1
	assert_output --partial "did not answer on $SOCK within 1 s; stopping it"
	pid=$(sed -n 's/.*vram-swapd (under holder \([0-9]*\)).*/\1/p' <<<"$output" | head -n 1)
	[[ -n $pid ]]
	refute_alive "$pid"
	run pgrep -f "$T/bin/vram-swapd"
	assert_failure
	assert_file_not_exists "$STATE"
}

@test "setup: the kernel refusing the attach stops the daemon, nothing left" {
	STUB_ATTACH_FAIL="the kernel has no nbd netlink family (is the nbd module loaded? modprobe nbd)" \
		run "$SETUP"
	assert_failure 1
	assert_output --partial "error: cannot attach chunk 0 to /dev/nbd0: the kernel has no nbd netlink family"
	run calls
	refute_line "nbd-client -d /dev/nbd0"
	refute_line --partial mkswap
	assert_file_not_exists "$STATE"
	run pgrep -f "$T/bin/vram-swapd"
	assert_failure
}

@test "setup: swapon failing detaches the device and stops the daemon" {
	stub swapon 255 "swapon: /dev/nbd0: swapon failed: Invalid argument"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "swapon /dev/nbd0 failed: swapon: /dev/nbd0: swapon failed: Invalid argument"
	run calls
	assert_line --index 6 "mkswap -L vram-swap /dev/nbd0"
	assert_line --index 7 "swapon -p 1000 --discard=pages /dev/nbd0"
	assert_line --index 8 "nbd-client -d /dev/nbd0"
	assert_file_not_exists "$STATE"
	run pgrep -f "$T/bin/vram-swapd"
	assert_failure
}

@test "setup: mkswap failing detaches the device" {
	stub mkswap 1 "mkswap: error: /dev/nbd0 is mounted; will not make swapspace"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "mkswap /dev/nbd0 failed"
	run calls
	assert_line "nbd-client -d /dev/nbd0"
	refute_line --partial "swapon -p"
}

@test "setup: a daemon already running without swap is reported" {
	pid=$(start_stub_daemon)
	printf 'mode=direct\npid=%s\nswap=0\n' "$pid" >"$STATE"
	run "$SETUP"
	kill_pid "$pid"
	assert_failure 1
	assert_output --partial "vram-swapd is already running (pid $pid) but swap is not active on it"
	assert_equal "$(calls)" ""
}

@test "setup: a stale record from a dead daemon is replaced" {
	mkdir -p "$RUNDIR"
	printf 'mode=direct\npid=999999\nswap=1\nnbd_device=/dev/nbd0\n' >"$STATE"
	run "$SETUP"
	assert_success
	assert_output --partial "removing the stale record"
}

@test "setup: with systemd, starts the unit instead of the daemon" {
	mkdir -p "$T/run/systemd/system"
	# The unit's ExecStartPost (setup --attach) records the attached swap.
	stub_script systemctl '
[[ $1 == start ]] || exit 3
mkdir -p "$VRAM_SWAP_RUNDIR/vram-swap"
printf "%s\n" mode=systemd chunk.0=/dev/nbd0 priority=1000 >"$VRAM_SWAP_RUNDIR/vram-swap/setup.state"'
	run "$SETUP" --enable
	assert_failure 1
	assert_output --partial "systemctl enable vram-swap.service failed"
	stub_script systemctl '
[[ $1 == is-active ]] && exit 3
[[ $1 == start ]] || exit 0
mkdir -p "$VRAM_SWAP_RUNDIR/vram-swap"
printf "%s\n" mode=systemd chunk.0=/dev/nbd0 priority=1000 >"$VRAM_SWAP_RUNDIR/vram-swap/setup.state"'
	: >"$CALLS"
	run "$SETUP" --enable
	assert_success
	assert_equal "$(calls)" "systemctl is-active --quiet vram-swap.service
$NVSMI_QUERY
modprobe nbd
systemctl enable vram-swap.service
systemctl start vram-swap.service
swapon --show"
	assert_output --partial "systemd unit vram-swap.service"
}

@test "setup: with systemd, a failed start shows the unit's journal" {
	mkdir -p "$T/run/systemd/system"
	stub_script systemctl '
[[ $1 == start ]] || exit 3
echo "Job for vram-swap.service failed because the control process exited with error code."; exit 1'
	run "$SETUP"
	assert_failure 1
	assert_output --partial "systemctl start vram-swap.service failed: Job for vram-swap.service failed"
	assert_output --partial "| vram-swapd: example failure from the journal"
	run calls
	assert_line "journalctl -u vram-swap.service -n 20 --no-pager -o cat"
}

@test "setup: --enable without systemd is refused before anything starts" {
	run "$SETUP" --enable
	assert_failure 1
	assert_output --partial "--enable needs systemd as the init system"
	assert_equal "$(calls)" ""
}

@test "setup: --attach (the unit's ExecStartPost) attaches to the running daemon" {
	pid=$(start_stub_daemon)
	MAINPID=$pid run "$SETUP" --attach
	kill_pid "$pid"
	assert_success
	assert_equal "$(calls)" "vram-swapd --socket $SOCK --ctl chunks
modprobe nbd
vram-swapd --socket $SOCK --ctl attach 0 0 4
mkswap -L vram-swap /dev/nbd0
swapon -p 1000 --discard=pages /dev/nbd0"
	run cat "$STATE"
	assert_line "mode=systemd"
	assert_line "pid=$pid"
	assert_line "chunk.0=/dev/nbd0"
}

@test "setup: --attach after a restart records the chunk the kernel still has, attaches nothing" {
	# The restarted daemon gave the waiting /dev/nbd0 new connections
	# itself; attaching the chunk again would make it a second swap area.
	echo 1 >"$T/sys/block/nbd0/pid"
	swap_on_nbd0
	write_defaults VRAM_SWAP_NBD_DEVICE=/dev/nbd0
	pid=$(start_stub_daemon)
	STUB_DEVICE=nbd0 MAINPID=$pid run "$SETUP" --attach
	kill_pid "$pid"
	assert_success
	assert_output --partial "chunk 0 is still attached as /dev/nbd0 (the daemon was restarted and took it back)"
	assert_equal "$(calls)" "vram-swapd --socket $SOCK --ctl chunks"
	run cat "$STATE"
	assert_line "chunk.0=/dev/nbd0"
	assert_line "pid=$pid"
}

@test "setup: --resume re-attaches only what was detached for sleep" {
	pid=$(start_stub_daemon)
	write_state "$pid" systemd
	run "$SETUP" --resume
	assert_success
	assert_equal "$(calls)" ""
	sed -i '/^chunk\./d; s/^sleeping=0/sleeping=1/' "$STATE"
	run "$SETUP" --resume
	kill_pid "$pid"
	assert_success
	assert_output --partial "swap re-attached on /dev/nbd0 after resume"
	assert_equal "$(calls)" "vram-swapd --socket $SOCK --ctl chunks
modprobe nbd
vram-swapd --socket $SOCK --ctl attach 0 0 4
mkswap -L vram-swap /dev/nbd0
swapon -p 1000 --discard=pages /dev/nbd0"
	run cat "$STATE"
	assert_line "sleeping=0"
}

@test "setup: the daemon inherits no descriptor but stdin, stdout and stderr" {
	run "$SETUP" 7>"$T/held-open"
	assert_success
	pid=$(sed -n 's/^pid=//p' "$STATE")
	[[ -e /proc/$pid/fd/1 ]]
	[[ ! -e /proc/$pid/fd/7 ]]
	assert_equal "$(readlink "/proc/$pid/fd/0")" /dev/null
	assert_equal "$(readlink "/proc/$pid/fd/2")" "$T/vram-swapd.log"
}

@test "setup: --restart with nothing set up has nothing to restart" {
	run "$SETUP" --restart
	assert_success
	assert_output --partial "vram-swap is not set up; nothing to restart"
	assert_equal "$(calls)" ""
}

@test "setup: --restart refuses a daemon whose pages cannot outlive it, touching nothing" {
	local pid
	pid=$(start_stub_daemon)
	write_state "$pid" direct
	swap_on_nbd0
	run "$SETUP" --restart
	assert_failure 1
	assert_output "vram-swap-setup: error: cannot restart vram-swapd in place: its pages cannot outlive it (nothing keeps the pages while no daemon runs (no file descriptor store: FDSTORE=unset, at least 129 needed, as vram-swap-holder gives)); the installed version runs after vram-swap-teardown && vram-swap-setup"
	assert_equal "$(calls)" ""
	kill -0 "$pid"
	kill "$pid"
}
