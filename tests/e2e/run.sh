#!/bin/bash
# Boots the end-to-end guest under qemu with a hard time limit and judges
# the run from its serial console. Exit 0 only when every expected step
# printed PASS, none printed FAIL, the kernel logged no swap write error,
# I/O error or OOM kill (but of the deliberate hog), and the guest finished
# in time.
#
#   run.sh [--remote]
#
# local (default): the daemon runs inside the guest on --backend host,
#   started by the project's vram-swap-setup.
# --remote: the daemon runs here, on this machine (E2E_BACKEND, default
#   host; cuda on a GPU machine), and the guest reaches its Unix socket
#   through qemu's user network: guestfwd to uds-bridge, one bridge
#   process per nbd connection.
#
# Environment (defaults fit a source tree after tests/e2e/build.sh):
#   E2E_DIR       vmlinuz, initrd.gz, uds-bridge      (build/e2e)
#   QEMU          qemu-system-x86_64 to run           (from PATH)
#   QEMU_DATADIR  its firmware directory (-L), if not the built-in one
#   E2E_DAEMON    vram-swapd for --remote             (build/vram-swapd)
#   E2E_BACKEND, E2E_SIZE   the --remote daemon's backend and size (host, 1G)
#   E2E_ARGS      more flags for the --remote daemon (--compress lz4)
#   E2E_MEM       guest RAM in MiB (1024 local, 384 remote)
#   E2E_EXTRA     MiB of pressure beyond the guest's MemAvailable (256)
#   E2E_TIMEOUT   seconds for the whole guest run (900; a hang guard, not
#                 a speed test: a quiet 2-core machine needs about 150,
#                 one shared with other builds up to 500)
#   E2E_ACCEL     qemu accelerator (tcg: KVM did not boot guests here,
#                 nor on the GPU machines: a KVM internal error at boot)
#   E2E_SMP       guest CPUs (2)
#   E2E_LOG       console log path                    (E2E_DIR/console.log)
#   E2E_RESTARTS  kill -9s of the restart round (10; 0: none)
#   E2E_CONNS     the rounds' nbd connection counts   ("1 4"; the round
#                 with 1 tests teardown refusal, the others SIGTERM)
#   E2E_COMPRESS  then a round of 4 connections compressed so (lz4; off:
#                 none)
#   E2E_FIO       seconds of each fio job on the raw device (2 local, 10
#                 remote; 0: none)
set -uo pipefail

mode=local
[ "${1:-}" = --remote ] && mode=remote

dir=${E2E_DIR:-build/e2e}
qemu=${QEMU:-qemu-system-x86_64}
timeout_s=${E2E_TIMEOUT:-900}
log=${E2E_LOG:-$dir/console.log}
if [ "$mode" = local ]; then mem=${E2E_MEM:-1024}; else mem=${E2E_MEM:-384}; fi

verdict() { echo "e2e: $*"; }
die() { verdict "FAIL: $*"; exit 1; }

# Nothing here may pass without a real kernel in a real emulator.
command -v "$qemu" >/dev/null 2>&1 ||
	die "qemu ($qemu) not found: install qemu-system-x86 (tests/install-deps.sh does); the end-to-end test cannot run without it"
[ -s "$dir/vmlinuz" ] || die "$dir/vmlinuz missing: the Debian kernel could not be had (run tests/e2e/build.sh)"
[ -s "$dir/initrd.gz" ] || die "$dir/initrd.gz missing (run tests/e2e/build.sh)"

work=$(mktemp -d /tmp/vram-swap-e2e.XXXXXX)
chmod 0700 "$work"
daemon_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	[ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

qargs=(-accel "${E2E_ACCEL:-tcg}" -smp "${E2E_SMP:-2}" -m "$mem" -nodefaults -no-reboot
	-display none -vga none -serial stdio
	-kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz")
[ -n "${QEMU_DATADIR:-}" ] && qargs+=(-L "$QEMU_DATADIR")
# root=/dev/ram0 only makes the initramfs a ramfs, which never swaps: the
# test's own programs and logs stay out of the swap under test.
conns=${E2E_CONNS:-1 4}
elastic=${E2E_ELASTIC:-1}
restarts=${E2E_RESTARTS:-10}
compress=${E2E_COMPRESS:-lz4}
if [ "$mode" = local ]; then fio=${E2E_FIO:-2}; else fio=${E2E_FIO:-10}; fi
append="console=ttyS0 panic=-1 loglevel=4 root=/dev/ram0 e2e.mode=$mode e2e.extra=${E2E_EXTRA:-256} e2e.conns=${conns// /,} e2e.elastic=$elastic e2e.restart=$restarts e2e.compress=$compress e2e.fio=$fio"

if [ "$mode" = remote ]; then
	daemon=${E2E_DAEMON:-build/vram-swapd}
	bridge=$dir/uds-bridge
	[ -x "$daemon" ] || die "$daemon missing"
	[ -x "$bridge" ] || die "$bridge missing"
	sock=$work/run/vram-swapd.sock
	status=$work/run/status
	mkdir -m 0700 "$work/run"
	# shellcheck disable=SC2086 # E2E_ARGS is flags, split at spaces
	"$daemon" --backend "${E2E_BACKEND:-host}" --size "${E2E_SIZE:-1G}" ${E2E_ARGS:-} \
		--socket "$sock" --status-file "$status" >"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	n=0
	until grep -qx 'state=serving' "$status" 2>/dev/null; do
		kill -0 "$daemon_pid" 2>/dev/null ||
			die "vram-swapd exited at start: $(tail -n 5 "$work/daemon.log")"
		n=$((n + 1))
		[ $n -lt 1200 ] || die "vram-swapd not serving after 120 s: $(tail -n 5 "$work/daemon.log")"
		sleep 0.1
	done
	verdict "host daemon $daemon_pid serving: $(grep -E '^(backend|device|size_bytes)=' "$status" | tr '\n' ' ')"
	# Second serial port: the runner's answers to the guest's HOST requests.
	mkfifo "$work/ctl.in" "$work/ctl.out"
	exec 7<>"$work/ctl.in" 8<>"$work/ctl.out"
	# shellcheck disable=SC2054 # commas are qemu's, inside one argument
	qargs+=(-chardev "pipe,id=ctl,path=$work/ctl" -serial chardev:ctl
		-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:10809-cmd:$bridge $sock"
		-device virtio-net-pci,netdev=n0,romfile=)
fi

# Answers "E2E: HOST sigterm": SIGTERM the daemon, which must keep serving.
sigterm_sent=0
host_sigterm() {
	local st
	sigterm_sent=1
	kill -TERM "$daemon_pid"
	sleep 2
	st=$(sed -n 's/^state=//p' "$status")
	if kill -0 "$daemon_pid" 2>/dev/null && [ "$st" = draining ]; then
		echo "ok daemon $daemon_pid running, state=draining" >&7
	else
		echo "fail daemon $daemon_pid alive=$(kill -0 "$daemon_pid" 2>/dev/null && echo yes || echo no) state=$st" >&7
	fi
}

verdict "booting $(basename "$qemu") ($mode, ${mem} MiB, limit ${timeout_s} s); console: $log"
start=$(date +%s)
: >"$log"
timeout --foreground -k 10 "$timeout_s" "$qemu" "${qargs[@]}" -append "$append" </dev/null >"$log" 2>&1 &
qpid=$!
# Show the steps as they come and act on the guest's requests.
while IFS= read -r line; do
	line=${line//$'\r'/}
	case $line in
	"E2E: HOST sigterm") host_sigterm ;;
	"E2E: "*) echo "[$(($(date +%s) - start))s] $line" ;;
	esac
	# The drained daemon may remove its status file as it exits.
	[ "$mode" = remote ] && cp "$status" "$work/status.last" 2>/dev/null
done < <(tail -n +1 -f --pid=$qpid "$log")
wait $qpid
qrc=$?
elapsed=$(($(date +%s) - start))
tr -d '\r' <"$log" >"$work/console"
con=$work/console

fails=0
bad() { verdict "FAIL: $*"; fails=$((fails + 1)); }

[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && bad "time limit of ${timeout_s} s reached (qemu killed)"
grep -q '^E2E: END' "$con" || bad "the guest did not finish (qemu exit $qrc); last lines: $(tail -n 5 "$con" | tr '\n' '|')"
grep -q '^E2E: DONE fails=0' "$con" || bad "the guest did not report DONE fails=0"
n=$(grep -c '^E2E: FAIL' "$con")
[ "$n" -eq 0 ] || bad "$n step(s) failed"

# Every step the mode has must have passed: a step that silently did not
# run is a failure too.
steps="modprobe"
if [ "$mode" = local ]; then
	steps="$steps same-pages(zram)"
	for a in lz4 zstd; do
		for w in compiler python sqlite text; do steps="$steps ratio($w,$a)"; done
	done
fi
if [ "$fio" -gt 0 ]; then
	if [ "$mode" = local ]; then fios="off"; [ "$compress" != off ] && fios="off $compress"; else fios=remote; fi
	for a in $fios; do
		for j in randread,QD1 randwrite,QD1 randread,QD32 randwrite,QD32; do steps="$steps fio($j,$a)"; done
		steps="$steps fio-verify($a)"
	done
fi
rounds=$conns
[ "$mode" = local ] && [ "$compress" != off ] && rounds="$rounds 4,$compress"
for r in $rounds; do
	c=${r%%,*}
	steps="$steps setup(C=$r) pressure(C=$r) verify(C=$r) free(C=$r) teardown(C=$r) after-teardown(C=$r) kernel-log(C=$r)"
	if [ "$mode" = local ]; then
		steps="$steps counters(C=$r)"
		[ "$c" = 1 ] && steps="$steps teardown-refused(C=$r) after-refusal(C=$r)"
	fi
	[ "$c" != 1 ] && steps="$steps sigterm(C=$r) after-sigterm(C=$r)"
done
if [ "$mode" = local ] && [ "$elastic" = 1 ]; then
	for s in setup pressure verify shrink verify-after-shrink refused verify-after-refusal \
		free grow yield teardown after-teardown kernel-log; do
		steps="$steps $s(elastic)"
	done
fi
if [ "$mode" = local ] && [ "$restarts" -gt 0 ]; then
	for s in setup kills in-place verify swapping free teardown kernel-log; do
		steps="$steps $s(restart)"
	done
fi
for s in $steps; do
	grep -qF "E2E: PASS $s:" "$con" || bad "step $s did not pass"
done

# The kernel's word, console and full dmesg alike (not the steps' own
# lines, which may quote it).
grep -v '^E2E: ' "$con" >"$work/kernel"
k=$(grep -E 'Write-error on swap-device|I/O error|Kernel panic|Oops|BUG:' "$work/kernel" | head -n 3)
[ -z "$k" ] || bad "kernel: $k"
k=$(grep -E 'Killed process [0-9]+ \(' "$work/kernel" | grep -v '(e2e-hog)' | head -n 3)
[ -z "$k" ] || bad "OOM kill of something other than the memory hog: $k"

if [ "$mode" = remote ]; then
	# The guest detached: a drained daemon must now exit 0 by itself; one
	# never told to stop (the guest stopped early) is told now.
	[ "$sigterm_sent" = 1 ] || kill -TERM "$daemon_pid" 2>/dev/null
	n=0
	while kill -0 "$daemon_pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
	if kill -0 "$daemon_pid" 2>/dev/null; then
		bad "host daemon still running 30 s after the guest detached and SIGTERM"
	else
		wait "$daemon_pid"
		drc=$?
		[ $drc -eq 0 ] || bad "host daemon exited $drc: $(tail -n 3 "$work/daemon.log")"
	fi
	daemon_pid=""
	verdict "host daemon counters: $(grep -E '^(reads|writes|read_bytes|write_bytes|io_errors|proto_errors|compress|stored_pages|same_pages|used_bytes|compr_bytes|full_writes)=' "$work/status.last" 2>/dev/null | tr '\n' ' ')"
	cp "$work/daemon.log" "$dir/daemon.log" 2>/dev/null
fi

if [ $fails -eq 0 ]; then
	verdict "PASS ($mode, $(grep -c '^E2E: PASS' "$con") steps, ${elapsed} s)"
	exit 0
fi
verdict "FAIL ($mode, $fails problem(s), ${elapsed} s); full console in $log"
exit 1
