#!/bin/bash
# The boot test's host harness: Debian 12 booted with systemd as PID 1
# under qemu, the project's .deb installed inside it with dpkg, the whole
# path of a user (install, setup, pressure, stop, teardown, reboot,
# suspend, reinstall, remove, purge) walked by tests/boot/guest.sh.
# Exit 0 only when every expected step printed PASS, none printed FAIL,
# the kernel logged no swap read or write error, nbd I/O error, oops or
# panic, the guest booted exactly twice and powered off in time.
#
#   run.sh          (from the top of the tree, after `make deb`; `make boot-e2e`)
#
# Environment:
#   BOOT_CACHE    where the base image is kept     (tests/boot/cache)
#   BOOT_DEB      the package under test           (build/vram-swap_VERSION_*.deb)
#   BOOT_OUT      console log, payload, overlay     (build/boot)
#   BOOT_TIMEOUT  seconds for the whole guest run   (1800; a hang guard)
#   BOOT_MEM      guest RAM in MiB                  (1024)
#   QEMU          qemu-system-x86_64 to run         (from PATH)
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
here=tests/boot
cache=${BOOT_CACHE:-$here/cache}
out=${BOOT_OUT:-build/boot}
qemu=${QEMU:-qemu-system-x86_64}
timeout_s=${BOOT_TIMEOUT:-1800}
mem=${BOOT_MEM:-1024}
log=$out/console.log

verdict() { echo "boot-e2e: $*"; }
die() { verdict "FAIL: $*"; exit 1; }

command -v "$qemu" >/dev/null 2>&1 || die "qemu ($qemu) not found: install qemu-system-x86 (tests/install-deps.sh does)"
command -v qemu-img >/dev/null 2>&1 || die "qemu-img not found: install qemu-utils (tests/install-deps.sh does)"
command -v mkfs.ext4 >/dev/null 2>&1 || die "mkfs.ext4 not found: install e2fsprogs"

deb=${BOOT_DEB:-}
if [ -z "$deb" ]; then
	deb=$(find build -maxdepth 1 -name "vram-swap_$(cat VERSION)_*.deb" | sort | tail -n 1)
fi
[ -s "$deb" ] || die "no build/vram-swap_$(cat VERSION)_*.deb: run 'make deb' (or 'make boot-e2e')"
git diff --quiet HEAD 2>/dev/null || verdict "note: uncommitted changes are not in $deb (it is built from HEAD)"

T0=$(date +%s)
base=$("$here/mkrootfs.sh" "$cache") || die "no base image (see above)"
base=${base#"$top"/}
t_base=$(($(date +%s) - T0))

mkdir -p "$out"
work=$(mktemp -d /tmp/vram-swap-boot.XXXXXX)
chmod 0700 "$work"
qpid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	[ -n "$qpid" ] && kill -TERM "$qpid" 2>/dev/null
	[ -n "${drain_pid:-}" ] && kill "$drain_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# The payload disk carries what is under test, so the cached base never
# does: the package, a static memory hog, the guest script.
pay=$work/payload
mkdir -p "$pay"
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -static -o "$pay/boot-e2e-hog" tests/e2e/hog.c ||
	die "cannot build the static memory hog"
${CC:-cc} -O2 -std=c11 -Wall -Wextra -Werror -static -D_GNU_SOURCE -Isrc -o "$pay/boot-fdprobe" \
	"$here/fdprobe.c" src/notify.c src/log.c -pthread ||
	die "cannot build the file descriptor store probe"
cp "$deb" "$pay/"
# The upgrade: the same package under a higher version, as dpkg sees one.
up=$work/upgrade
rm -rf "$up"
dpkg-deb -R "$deb" "$up" || die "dpkg-deb -R $deb failed"
sed -i "s/^Version: .*/&+up1/" "$up/DEBIAN/control"
mkdir -p "$pay/upgrade"
dpkg-deb -b "$up" "$pay/upgrade/" >/dev/null || die "cannot build the upgrade package"
rm -rf "$up"
install -m 0755 "$here/guest.sh" "$pay/guest.sh"
install -m 0644 "$here/envfiles.sh" "$pay/envfiles.sh"
rm -f "$out/payload.img"
mkfs.ext4 -q -L boote2e -d "$pay" "$out/payload.img" 64M || die "mkfs.ext4 -d for the payload failed"
# Each run writes to its own overlay; the base stays as built.
rm -f "$out/root.qcow2"
qemu-img create -q -f qcow2 -b "$(cd "$base" && pwd)/rootfs.img" -F raw "$out/root.qcow2" ||
	die "qemu-img create of the overlay failed"

# qemu's monitor on a pair of pipes: the harness wakes the suspended guest
# with system_wakeup, as a power button or RTC alarm would, once qemu
# itself says the guest is suspended ("info status").
mkfifo "$work/mon.in" "$work/mon.out"
exec 7<>"$work/mon.in" 8<>"$work/mon.out"
# Appending, so that the harness may empty it while cat writes.
: >"$out/monitor.log"
cat <&8 >>"$out/monitor.log" &
drain_pid=$!

# SeaBIOS's own log (its debug port, 0x402) goes to firmware.log: after a
# sleep it says whether it found the resume and jumped to the kernel's
# waking vector, which tells a reset inside the firmware from a kernel
# that died after it was handed back control.
# shellcheck disable=SC2054 # commas are qemu's, inside one argument
qargs=(-accel tcg -smp 2 -m "$mem" -nodefaults -display none -vga none
	-chardev "file,id=con,path=$log" -serial chardev:con
	-chardev "pipe,id=mon,path=$work/mon" -mon chardev=mon,mode=readline
	-chardev "file,id=fw,path=$out/firmware.log" -device isa-debugcon,iobase=0x402,chardev=fw
	-global PIIX4_PM.disable_s3=0
	-kernel "$base/vmlinuz" -initrd "$base/initrd.img"
	-drive "file=$out/root.qcow2,if=virtio,format=qcow2"
	-drive "file=$out/payload.img,if=virtio,format=raw,readonly=on")
# no_console_suspend: whatever the kernel says while it sleeps or wakes
# (an oops in a resume callback) reaches the console and this harness.
# watchdog_thresh=60: a soft lockup is reported after 120 s, not 20: under
# TCG on a loaded host a vCPU can be starved for tens of seconds (seen: 45
# s in dd under memory pressure), which is the host's load, not a hang.
append="console=ttyS0 root=/dev/vda rw panic=5 loglevel=4 systemd.show_status=error no_console_suspend watchdog_thresh=60"

: >"$log"
verdict "booting Debian 12 ($(cat "$base/kernel-version"), ${mem} MiB, TCG, limit ${timeout_s} s) with $(basename "$deb"); console: $log"
start=$(date +%s)
timeout --foreground -k 10 "$timeout_s" "$qemu" "${qargs[@]}" -append "$append" </dev/null >"$work/qemu.err" 2>&1 &
qpid=$!

waking=0
waking_at=0
fatal=""
fatal_at=0
shut_at=0
shut_hung=0
fwd='^\[ *[0-9.]+\] [A-Za-z0-9_.@-]+\[[0-9]+\]: (BOOT: .*)$'
# Show the steps as they come, answer the guest's wake-up request, and
# stop at once on a panic: the guest would only reboot into a state that
# proves nothing.
while :; do
	if IFS= read -r -t 3 line; then
		line=${line//$'\r'/}
		# journald forwards the test's lines to the console with a
		# "[time] ident[pid]: " prefix.
		[[ $line =~ $fwd ]] && line=${BASH_REMATCH[1]}
		case $line in
		"BOOT: HOST wakeup")
			waking=1
			waking_at=$(date +%s)
			;;
		"BOOT: HOST awake") waking=0 ;;
		"BOOT: DONE "* | "BOOT: REBOOT")
			echo "[$(($(date +%s) - start))s] ${line#BOOT: }"
			shut_at=$(($(date +%s) + 300))
			;;
		"BOOT: INFO boot "*)
			echo "[$(($(date +%s) - start))s] ${line#BOOT: }"
			shut_at=0
			;;
		"BOOT: "*) echo "[$(($(date +%s) - start))s] ${line#BOOT: }" ;;
		*"Kernel panic"* | *"Read-error on swap-device"* | *"Write-error on swap-device"* | *"Attempted to kill init"* | *"Freezing execution"*)
			# Lost pages: what follows is a panic, a frozen PID 1 or a
			# hang, never a result. A few more seconds of console, then
			# stop.
			if [ -z "$fatal" ]; then
				fatal=$line
				fatal_at=$(($(date +%s) + 10))
				echo "[$(($(date +%s) - start))s] kernel: $line"
			fi
			;;
		esac
	else
		[ $? -gt 128 ] || break
	fi
	# Asked until the guest says it is awake; the wake-up itself only
	# once qemu has answered that the guest is suspended (or, should the
	# monitor never say so, blindly after 120 s: a wake-up that comes
	# before the sleep is only an error message in the monitor).
	if [ $waking = 1 ]; then
		if tail -n 3 "$out/monitor.log" 2>/dev/null | grep -aq 'paused (suspended)'; then
			echo "[$(($(date +%s) - start))s] qemu says the guest is suspended: system_wakeup"
			echo system_wakeup >&7
			: >"$out/monitor.log"
		elif [ $(($(date +%s) - waking_at)) -ge 120 ]; then
			echo system_wakeup >&7
		fi
		echo "info status" >&7
	fi
	if [ -n "$fatal" ] && [ "$(date +%s)" -ge $fatal_at ]; then
		kill -TERM "$qpid" 2>/dev/null
		fatal_at=$((fatal_at + 3600))
	fi
	# A power-off or reboot that hangs (a stop job waiting on a unit) is
	# a failure in its own right, and should not cost the whole limit.
	if [ $shut_at -gt 0 ] && [ "$(date +%s)" -ge $shut_at ]; then
		shut_hung=1
		echo "[$(($(date +%s) - start))s] the guest has not powered off or rebooted 300 s after saying it would"
		kill -TERM "$qpid" 2>/dev/null
		shut_at=0
	fi
done < <(tail -n +1 -F --pid=$qpid "$log" 2>/dev/null)
wait "$qpid"
qrc=$?
qpid=""
elapsed=$(($(date +%s) - start))
con=$work/console
tr -d '\r' <"$log" | sed -E 's/^\[ *[0-9.]+\] [A-Za-z0-9_.@-]+\[[0-9]+\]: (BOOT: )/\1/' >"$con"

fails=0
bad() { verdict "FAIL: $*"; fails=$((fails + 1)); }

{ [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; } && bad "time limit of ${timeout_s} s reached (qemu killed)"
[ -n "$fatal" ] && bad "stopped the guest after: $fatal"
[ $shut_hung = 1 ] && bad "a power-off or reboot hung for 300 s (console: $(tail -n 3 "$con" | tr '\n' '|'))"
[ $qrc -eq 0 ] || [ $qrc -eq 124 ] || [ $qrc -eq 137 ] || [ -n "$fatal" ] || [ $shut_hung = 1 ] ||
	bad "qemu exited $qrc: $(tr '\n' '|' <"$work/qemu.err")"
grep -q '^BOOT: DONE fails=0' "$con" || bad "the guest did not report DONE fails=0; last lines: $(tail -n 4 "$con" | tr '\n' '|')"
n=$(grep -c '^BOOT: FAIL' "$con")
[ "$n" -eq 0 ] || bad "$n step(s) failed"

# The test reboots once, on purpose; any other boot is a crash or a reset,
# but for a reset while asleep, which the guest retries (at most twice)
# and says so.
boots=$(grep -c '^BOOT: INFO boot [0-9]*, phase' "$con")
restarts=$(grep -c 'reboot: Restarting system' "$con")
retries=$(grep -c '^BOOT: INFO suspend-retry:' "$con")
if [ "$boots" -ne $((2 + retries)) ] || [ "$retries" -gt 2 ]; then
	bad "the guest booted $boots time(s), expected 2 and one more for each reset while asleep ($retries, at most 2)"
fi
[ "$restarts" -eq 1 ] || bad "the kernel restarted $restarts time(s), expected 1"

# Every step must have passed: one that silently did not run fails too.
steps="boot(1) install envfile fdstore configure setup pressure(1) status status-json free(1) stop-fits
	setup-again pressure(2) stop-refused after-stop-refused free(2) teardown enable kernel-log(1)
	boot(2) swap-at-boot pressure(suspend) free(suspend) suspend after-resume after-resume-data
	pressure(3) upgrade crash reload remove-refused after-remove-refused free(3) remove purge
	install-again setup-after-purge pressure(4) free(4) teardown-clean kernel-log(2)"
for s in $steps; do
	grep -qF "BOOT: PASS $s:" "$con" || bad "step $s did not pass"
done

# The kernel's own word (not the steps' lines, which may quote it).
grep -vE '^BOOT: |^\[ *[0-9.]+\] boot-e2e-start\[' "$con" >"$work/kernel"
k=$(grep -E 'Read-error on swap-device|Write-error on swap-device|I/O error, dev nbd|Kernel panic|Oops|BUG:|Attempted to kill init' "$work/kernel" | head -n 3)
[ -z "$k" ] || bad "kernel: $(echo "$k" | tr '\n' '|')"

case $(grep -oE '^BOOT: PASS suspend: (stand-in)?' "$con" | tail -n 1) in
"BOOT: PASS suspend: stand-in") s3="the sleep units run as a stand-in (no S3)" ;;
"BOOT: PASS suspend: ") s3="real S3, woken by system_wakeup$([ "$retries" -gt 0 ] && echo ", after $retries reset(s) while asleep, each retried: $(grep '^BOOT: INFO suspend-retry:' "$con" | tr '\n' '|')")" ;;
*) s3="did not pass" ;;
esac
# Each wake-up begins in the firmware; one that never reached the kernel's
# waking vector, or a kernel that reset after reaching it, shows here.
fw_resumes=$(grep -ac 'In resume (status=254)' "$out/firmware.log")
fw_jumps=$(grep -ac 'Jump to resume vector' "$out/firmware.log")
s3="$s3; firmware: $fw_resumes S3 resume(s) begun, $fw_jumps handed to the kernel"
echo
verdict "steps (console: $log):"
grep -E '^BOOT: (PASS|FAIL) ' "$con" | sed 's/^BOOT: /  /'
verdict "base image: $base (ready in ${t_base} s); guest run ${elapsed} s; boots $boots; suspend: $s3"
if [ $fails -eq 0 ]; then
	verdict "PASS ($(grep -c '^BOOT: PASS' "$con") steps, ${elapsed} s)"
	exit 0
fi
verdict "FAIL ($fails problem(s), ${elapsed} s); the guest's disk with its journal: $out/root.qcow2"
exit 1
