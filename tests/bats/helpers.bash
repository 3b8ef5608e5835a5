# shellcheck shell=bash
# Stub bodies are single-quoted on purpose (they expand when run); the
# variables set here are used by the .bats files.
# shellcheck disable=SC2016,SC2034,SC2154 # $output comes from bats
# Common set-up of the shell-front tests: a fake /proc, /sys, /etc, /run and
# /dev under the test's own directory, and a bin/ of stubs first on PATH.
# Every stub appends "NAME ARGS" to $CALLS, so tests assert the exact
# commands run, in order. The stubs stand in for what needs root, a GPU or
# the nbd kernel module, none of which the test machine has.

bats_load_library bats-support
bats_load_library bats-assert
bats_load_library bats-file

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SETUP=$REPO/scripts/vram-swap-setup
TEARDOWN=$REPO/scripts/vram-swap-teardown
STATUS=$REPO/scripts/vram-swap-status
# The real daemon: the settings gate, and the integration tests' server.
VS_REAL_DAEMON=${VS_DAEMON:-$REPO/build/vram-swapd}
# What the real daemon and scripts write, kept by formats.bats.
GOLDEN=$REPO/tests/bats/golden

# vs_env: the fake system. Called from each file's setup().
vs_env() {
	T=$BATS_TEST_TMPDIR
	export CALLS=$T/calls
	export VRAM_SWAP_PROCFS=$T/proc VRAM_SWAP_SYSFS=$T/sys
	export VRAM_SWAP_SYSCONFDIR=$T/etc VRAM_SWAP_RUNDIR=$T/run
	export VRAM_SWAP_DEVDIR=$T/dev VRAM_SWAP_LOG_FILE=$T/vram-swapd.log
	export VRAM_SWAP_DAEMON=$T/bin/vram-swapd
	export VRAM_SWAP_LIBCUDA=$T/lib/libcuda.so.1
	export VRAM_SWAP_EXCL=$T/bin/vram-swap-excl
	# The test's own mount namespace is the "host" one.
	export VRAM_SWAP_INIT_PID=$$
	unset VRAM_SWAP_DEFAULTS VRAM_SWAP_LIB NOTIFY_SOCKET MAINPID
	DEFAULTS=$T/etc/default/vram-swap
	RUNDIR=$T/run/vram-swap
	STATE=$RUNDIR/setup.state
	SOCK=$RUNDIR/vram-swapd.sock
	mkdir -p "$T/bin" "$T/proc" "$T/sys/module/nbd" "$T/sys/module/nvidia" \
		"$T/sys/power" "$T/etc/default" "$T/run" "$T/dev" "$T/lib"
	: >"$CALLS"
	printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' >"$T/proc/swaps"
	echo 580.159.04 >"$T/sys/module/nvidia/version"
	: >"$T/lib/libcuda.so.580.159.04"
	ln -sf libcuda.so.580.159.04 "$T/lib/libcuda.so.1"
	echo 8:2 >"$T/sys/power/resume"
	local i
	for i in 0 1; do
		: >"$T/dev/nbd$i"
		mkdir -p "$T/sys/block/nbd$i"
		echo 0 >"$T/sys/block/nbd$i/size"
		echo "43:$((i * 32))" >"$T/sys/block/nbd$i/dev"
	done
	PATH=$T/bin:$(without_dirs_holding nvidia-smi "$PATH")
	export PATH
	stub_defaults
	write_defaults VRAM_SWAP_SIZE=75%
}

# PATH minus the directories that hold NAME: a GPU machine's real
# nvidia-smi must not answer for the stubs.
without_dirs_holding() {
	local name=$1 out="" d
	local IFS=:
	for d in $2; do
		[[ -e $d/$name ]] || out+=${out:+:}$d
	done
	echo "$out"
}

# A PATH with only the stubs and the ordinary tools the scripts use, so
# that a tool can be missing on purpose.
strict_path() {
	local t
	mkdir -p "$T/sysbin"
	for t in bash sh cat sed awk sort tr mkdir chmod mv rm readlink dirname \
		stat tail head grep touch sleep setsid env cut date ln python3 kill; do
		t=$(command -v "$t") && ln -sf "$t" "$T/sysbin/"
	done
	PATH=$T/bin:$T/sysbin
}

# stub NAME [EXIT [STDOUT]]: a command that logs its call and answers.
stub() {
	local name=$1 rc=${2:-0} out=${3:-}
	{
		printf '#!/bin/bash\nprintf "%%s\\n" "%s $*" >>"$CALLS"\n' "$name"
		[[ -n $out ]] && printf 'cat <<'\''STUB_EOF'\''\n%s\nSTUB_EOF\n' "$out"
		printf 'exit %s\n' "$rc"
	} >"$T/bin/$name"
	chmod +x "$T/bin/$name"
}

# stub_script NAME BODY: a stub whose behaviour is BODY (bash), after the
# call is logged.
stub_script() {
	printf '#!/bin/bash\nprintf "%%s\\n" "%s $*" >>"$CALLS"\n%s\n' "$1" "$2" >"$T/bin/$1"
	chmod +x "$T/bin/$1"
}

NVSMI_OK='0, GPU-1b2c3d4e-0000-1111-2222-333344445555, 00000000:65:00.0, NVIDIA H100 80GB HBM3, 81559, 80871
1, GPU-99999999-8888-7777-6666-555544443333, 00000000:B3:00.0, NVIDIA H100 80GB HBM3, 81559, 81000'

# The commands a working machine answers with.
stub_defaults() {
	# id: the scripts check for root; the tests may run as anyone.
	cat >"$T/bin/id" <<-'EOF'
		#!/bin/bash
		[[ $1 == -u ]] && { echo "${STUB_UID:-0}"; exit 0; }
		exec /usr/bin/id "$@"
	EOF
	chmod +x "$T/bin/id"
	stub nvidia-smi 0 "$NVSMI_OK"
	stub modprobe 0
	stub mkswap 0 "Setting up swapspace version 1"
	stub systemctl 0
	stub journalctl 0 "vram-swapd: example failure from the journal"
	# nbd-client -l lists the export; attach and -d succeed.
	stub_script nbd-client '
case " $* " in *" -l "*) echo "Negotiation: .."; echo "${STUB_EXPORT:-vram-swap.0}" ;; esac
exit 0'
	# swapon adds the device to the fake /proc/swaps, swapoff removes it.
	stub_script swapon '
[[ $1 == --show ]] && { echo "NAME      TYPE      SIZE USED PRIO"; exit 0; }
dev=${!#} prio=-2
while (($#)); do [[ $1 == -p ]] && prio=$2; shift; done
printf "%s\tpartition\t65532\t0\t%s\n" "$dev" "$prio" >>"$VRAM_SWAP_PROCFS/swaps"'
	# The kernel finds the area by the device, whatever path it is
	# listed under (/nbd0 when enabled from another mount namespace).
	stub_script swapoff '
if [[ -n ${STUB_SWAPOFF_FAIL:-} ]]; then
	echo "swapoff: $1: swapoff failed: Cannot allocate memory" >&2; exit 255
fi
grep -Ev "^($1|/${1##*/})[[:space:]]" "$VRAM_SWAP_PROCFS/swaps" >"$VRAM_SWAP_PROCFS/swaps.new"
mv "$VRAM_SWAP_PROCFS/swaps.new" "$VRAM_SWAP_PROCFS/swaps"'
	stub_excl
	stub_daemon
}

# A stand-in for the interlock helper (the real one needs real block
# devices: tests/bats/interlock.bats runs it against the kernel). The fake
# kernel holds a device while the fake /proc/swaps lists it under either
# name, or while STUB_EXCL_HELD is set (a mount, say). It logs nothing: the
# command it runs logs itself.
stub_excl() {
	cat >"$T/bin/vram-swap-excl" <<-'EOF'
		#!/bin/bash
		dev=$1
		shift
		if [[ -n ${STUB_EXCL_HELD:-} ]] ||
			grep -Eq "^($dev|/${dev##*/})[[:space:]]" "$VRAM_SWAP_PROCFS/swaps"; then
			echo "vram-swap-excl: $dev is in use by the kernel (swap, a mount or another exclusive holder)" >&2
			exit 1
		fi
		(($#)) && exec "$@"
		exit 0
	EOF
	chmod +x "$T/bin/vram-swap-excl"
}

# A stand-in vram-swapd: logs its arguments, writes a status file and runs
# until SIGTERM. Its comm is "vram-swapd", as the scripts check. The status
# file is the real daemon's (the golden one, see formats.bats) with a
# GPU's values put in by name. STUB_DAEMON_EXIT makes it fail at start
# instead, STUB_DAEMON_HANG makes it never become ready.
# --check-config is the real daemon's (the one gate for the defaults file),
# and is not a call the tests count.
stub_daemon() {
	golden_status "$T/status.stub" version=0.1.0 state=serving backend=cuda \
		"device=NVIDIA H100 80GB HBM3" uuid=GPU-1b2c3d4e-0000-1111-2222-333344445555 \
		bus_id=0000:65:00.0 export=vram-swap socket=/x size_bytes=67108864 \
		used_bytes=4096 stored_pages=3 same_pages=2 compr_bytes=3000 export_bytes=134217728 compress=lz4 clients=1 reads=3 writes=5 trims=1 zeroes=0 flushes=2 \
		read_bytes=12288 write_bytes=20480 io_errors=0 proto_errors=0 \
		chunk_bytes=67108864 chunks=1 target_chunks=1 \
		"gpu.0=12884901888 85520809984 67108864 17104161996 1 1 NVIDIA H100 80GB HBM3" \
		"chunk.0=0 67108864 4096 3 2 1 3000 134217728 vram-swap.0" crash_safe=no \
		"crash_safe_why=nothing keeps the pages while no daemon runs (no file descriptor store: FDSTORE=unset, at least 129 needed, as vram-swap-holder gives)"
	{
		printf '#!/bin/bash\n'
		printf '[[ ${1:-} == --check-config ]] && exec %q "$@"\n' "$VS_REAL_DAEMON"
		printf 'template=%q\n' "$T/status.stub"
		# Logged as a command line: the settings in its environment, in
		# the daemon's order (that of --check-config), then its arguments.
		printf 'keys=%q\n' "$("$VS_REAL_DAEMON" --check-config | sed 's/=.*//' | tr '\n' ' ')"
		stub_kernel_attach_src
		cat <<-'EOF'
		if [[ ${3:-} == --ctl ]]; then
	printf '%s\n' "vram-swapd $*" >>"$CALLS"
	stub_kernel_attach "$4"
	# The status file's one chunk; STUB_DEVICE: the kernel has it already.
	if [[ $4 == chunks ]]; then
		echo "chunk 0 gpu 0 size 67108864 used 4096 stored 3 same 2 clients 1 device ${STUB_DEVICE:--} name ${STUB_EXPORT:-vram-swap.0}"
		exit 0
	fi
	echo "vram-swapd: the stub daemon has no answer to '$4'" >&2
	exit 2
fi
env=""
for k in $keys; do [[ -v $k ]] && env+=" $k=${!k}"; done
printf '%s\n' "${env# }${env:+ }vram-swapd $*" >>"$CALLS"
if [[ -n ${STUB_DAEMON_EXIT:-} ]]; then
	echo "vram-swapd: ${STUB_DAEMON_MSG:-cannot start}" >&2; exit "$STUB_DAEMON_EXIT"
fi
status=""
while (($#)); do [[ $1 == --status-file ]] && status=$2; shift; done
echo "vram-swapd: stub started" >&2
trap "exit 0" TERM INT
if [[ -z ${STUB_DAEMON_HANG:-} && -n $status ]]; then
	sed "s/^pid=.*/pid=$$/" "$template" >"$status.tmp"
	mv "$status.tmp" "$status"
fi
while :; do sleep 0.1 & wait $!; done
		EOF
	} >"$T/bin/vram-swapd"
	chmod +x "$T/bin/vram-swapd"
}

# The kernel's half of the daemon's `--ctl "attach IDX N CONNS"` (its
# netlink connect, which needs the nbd module this machine lacks), as bash
# source for the stand-in daemons: marks /dev/nbdN busy in the fake sysfs
# and answers as the daemon does; STUB_ATTACH_FAIL makes the kernel refuse.
# Returns 1 for any other command (the caller decides), else exits. CHECK,
# if set, is run first with IDX and must succeed (the real daemon serves
# that chunk).
stub_kernel_attach_src() {
	cat <<-'EOF'
		stub_kernel_attach() {
			local idx n c
			[[ $1 == "attach "* ]] || return 1
			read -r _ idx n c <<<"$1"
			if [[ -n ${STUB_ATTACH_FAIL:-} ]]; then
				echo "vram-swapd: cannot attach chunk $idx to /dev/nbd$n: $STUB_ATTACH_FAIL" >&2
				exit 1
			fi
			if [[ -n ${CHECK:-} ]] && ! "$CHECK" "$idx"; then
				echo "vram-swapd: cannot attach chunk $idx to /dev/nbd$n: there is no chunk $idx" >&2
				exit 1
			fi
			echo 1 >"$VRAM_SWAP_SYSFS/block/nbd$n/pid"
			echo "device nbd$n"
			exit 0
		}
	EOF
}

# The real daemon (VS_REAL_DAEMON), save for the kernel's half of an
# attach (stub_kernel_attach, once the real daemon says it serves the
# chunk), which is logged as the stub daemon logs it.
real_daemon_but_kernel() {
	{
		printf '#!/bin/bash\n'
		printf 'real=%q\n' "$VS_REAL_DAEMON"
		stub_kernel_attach_src
		cat <<-'EOF'
			if [[ ${1:-} == --socket && ${3:-} == --ctl && ${4:-} == "attach "* ]]; then
				printf '%s\n' "vram-swapd $*" >>"$CALLS"
				sock=$2
				served() { "$real" --socket "$sock" --ctl chunks | grep -q "^chunk $1 "; }
				CHECK=served
				stub_kernel_attach "$4"
			fi
			exec "$real" "$@"
		EOF
	} >"$T/bin/vram-swapd-real"
	chmod +x "$T/bin/vram-swapd-real"
	export VRAM_SWAP_DAEMON=$T/bin/vram-swapd-real
}

# golden_status OUT KEY=VALUE...: the real daemon's status file as kept in
# tests/bats/golden/status, each KEY given set to VALUE (it must be a key
# the daemon writes).
golden_status() {
	local out=$1 kv
	cp "$GOLDEN/status" "$out"
	shift
	for kv in "$@"; do
		grep -q "^${kv%%=*}=" "$out" || fail "the daemon's status file has no key ${kv%%=*}"
		KV=$kv awk 'BEGIN { k = ENVIRON["KV"]; sub(/=.*/, "", k) }
			index($0, k "=") == 1 { print ENVIRON["KV"]; next } { print }' "$out" >"$out.new"
		mv "$out.new" "$out"
	done
}

# real_daemon: the tests that follow run the real daemon (host backend);
# only the kernel's half of its attach is stubbed (real_daemon_but_kernel:
# it marks the device busy in the fake sysfs, as the kernel would). The
# real nbd-client lists the exports; its detach is the kernel's again.
# Eight nbd devices exist.
real_daemon() {
	[[ -x $VS_REAL_DAEMON ]] || fail "$VS_REAL_DAEMON missing: run make first"
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
	local i
	for i in 2 3 4 5 6 7; do
		: >"$T/dev/nbd$i"
		mkdir -p "$T/sys/block/nbd$i"
		echo 0 >"$T/sys/block/nbd$i/size"
		echo "43:$((i * 32))" >"$T/sys/block/nbd$i/dev"
	done
}

# Starts the stub daemon in the background as if setup had; prints its pid.
start_stub_daemon() {
	mkdir -p "$RUNDIR"
	"$T/bin/vram-swapd" --status-file "$RUNDIR/status" >/dev/null 2>&1 &
	local pid=$! i
	for ((i = 0; i < 400; i++)); do
		[[ -s $RUNDIR/status ]] && break
		sleep 0.05
	done
	: >"$CALLS"
	echo "$pid"
}

# write_defaults KEY=VALUE...: the defaults file holding exactly these lines.
write_defaults() {
	printf '%s\n' "# test defaults" "$@" >"$DEFAULTS"
}

# The record setup leaves behind after a direct start on /dev/nbd0.
write_state() {
	mkdir -p "$RUNDIR"
	printf '%s\n' chunk.0=/dev/nbd0 connections=4 discard=on export=vram-swap \
		log="$T/vram-swapd.log" mode="${2:-direct}" pid="$1" priority=1000 \
		sleeping=0 socket="$SOCK" >"$STATE"
}

# The record the scripts wrote before every chunk was alike: the first
# chunk in keys of its own, any other as chunk.N.
write_old_state() {
	mkdir -p "$RUNDIR"
	printf '%s\n' attached=1 chunk=0 connections=4 discard=on export=vram-swap \
		log="$T/vram-swapd.log" mode="${2:-direct}" nbd_device=/dev/nbd0 \
		pid="$1" priority=1000 socket="$SOCK" swap=1 "${@:3}" >"$STATE"
}

swap_on_nbd0() {
	printf '/dev/nbd0\tpartition\t65532\t0\t1000\n' >>"$T/proc/swaps"
}

calls() { cat "$CALLS"; }

kill_pid() {
	[[ -n ${1:-} ]] || return 0
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# Stops a daemon that a test's setup run left behind.
kill_recorded_daemon() {
	local pid
	pid=$(sed -n 's/^pid=//p' "$STATE" 2>/dev/null)
	kill_pid "$pid"
}

# json_expect PATH=VALUE...: $output is valid JSON and holds each leaf,
# written as dotted.path=JSON-value (e.g. swap.priority=1000,
# gpu.name="NVIDIA H100"; a list's items by index: chunks.0.size_bytes).
# One python3 run per call.
json_expect() {
	local flat l
	flat=$(/usr/bin/python3 -c '
import json, sys
def walk(path, v):
    if isinstance(v, dict):
        for k, x in v.items():
            walk(path + [k], x)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(path + [str(i)], x)
    else:
        print(".".join(path) + "=" + json.dumps(v))
walk([], json.loads(sys.stdin.read()))' <<<"$output") || fail "not valid JSON: $output"
	for l in "$@"; do
		grep -qxF -- "$l" <<<"$flat" || fail "JSON lacks $l; it holds:
$flat"
	done
}

# Fails unless process PID is gone. (A bare "! cmd" never fails a bats test.)
refute_alive() {
	if kill -0 "$1" 2>/dev/null; then
		fail "process $1 is still running"
	fi
}
