#!/bin/bash
# The end-to-end test as it runs inside the guest, as a user would: load
# nbd, vram-swap-setup with a defaults file, memory pressure past RAM,
# checksums, vram-swap-teardown. Every step prints exactly one line
#   E2E: PASS <step> ...   or   E2E: FAIL <step>: <why>
# and the host runner (tests/e2e/run.sh) counts them against the plan.
#
# Kernel command line switches (read from /proc/cmdline):
#   e2e.mode=local    daemon inside the guest on --backend host (default)
#   e2e.mode=remote   daemon on the host, reached at e2e.server=IP:PORT
#                     through qemu's user network (the GPU variant)
#   e2e.extra=MiB     pressure beyond MemAvailable (default 256)
#   e2e.conns=1,4     the rounds, by nbd connection count
#   e2e.elastic=1     then the elastic round (local mode): four chunks,
#                     resize refused and done under pressure, grow, yield
#   e2e.restart=10    then the restart round (local mode): the daemon,
#                     under vram-swap-holder, killed that many times
#                     under swap pressure (0: no round)
#   e2e.compress=lz4  then a round of 4 connections with that compression
#                     (local mode; off: no round)
#   e2e.fio=10        seconds of each fio job on the raw device (0: none);
#                     local mode runs the jobs uncompressed and compressed
set -u

PRIO=77
EXPORT_SIZE=512M
PRESS=/mnt/press
HOG_LOG=/tmp/hog.log
STATUS=/run/vram-swap/status
FAILS=0

say()  { echo "E2E: $*"; }
pass() { say "PASS $*"; }
fail() { say "FAIL $*"; FAILS=$((FAILS + 1)); }
info() { say "INFO $*"; }

param() {
	local kv
	for kv in $(</proc/cmdline); do
		case $kv in "e2e.$1="*) echo "${kv#*=}"; return ;; esac
	done
	echo "$2"
}

MODE=$(param mode local)
SERVER=$(param server 10.0.2.100:10809)
EXTRA=$(param extra 256)
CONNS=$(param conns 1,4)
CONNS=${CONNS//,/ }
ELASTIC=$(param elastic 1)
RESTARTS=$(param restart 10)
COMPRESSED=$(param compress lz4)
COMPRESS=""
FIO_SECS=$(param fio 2)

vmstat_get() { awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
meminfo_mib() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' /proc/meminfo; }
# Used KiB of the nbd swap device, or nothing.
swap_used_kib() { awk '$1 ~ /^\/dev\/nbd/ { print $4 }' /proc/swaps; }
swap_dev() { awk '$1 ~ /^\/dev\/nbd/ { print $1 }' /proc/swaps; }
status_get() { sed -n "s/^$1=//p" "$STATUS" 2>/dev/null; }

# Conditions for wait_for (shellcheck cannot see them called).
# shellcheck disable=SC2317
status_is() { [ "$(status_get "$1")" = "$2" ]; }
# shellcheck disable=SC2317
gone() { [ ! -d "/proc/$1" ]; }
# shellcheck disable=SC2317
serving_anew() { status_is state serving && [ "$(status_get pid)" != "$1" ]; }
# shellcheck disable=SC2317
hog_answered() { [ "$(grep -c 'verify(usr1)' "$HOG_LOG")" -ge "$1" ]; }

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
	local n=$(($1 * 5))
	shift
	while ((n-- > 0)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# Kernel lines that fail the test whatever the steps said. An OOM kill of
# the deliberate hog is tolerated here (the hog's own step fails then).
bad_kernel_lines() {
	dmesg | grep -E 'Write-error on swap-device|I/O error|Killed process|BUG:|Oops|blocked for more than|segfault|general protection' |
		grep -v -E 'Killed process [0-9]+ \(e2e-hog\)'
}

check_kernel() {
	local bad
	bad=$(bad_kernel_lines)
	if [ -n "$bad" ]; then
		fail "kernel-log($1): $(echo "$bad" | head -n 3 | tr '\n' '|')"
	else
		pass "kernel-log($1): clean (no swap write or block errors, no OOM kill, no oops)"
	fi
}

daemon_pid() {
	local p
	p=$(status_get pid)
	[ -n "$p" ] && [ -d "/proc/$p" ] && echo "$p"
}

report_counters() {
	[ -r "$STATUS" ] || { info "counters($1): no status file"; return; }
	info "counters($1): $(grep -E '^(state|clients|size_bytes|used_bytes|reads|writes|trims|zeroes|flushes|read_bytes|write_bytes|io_errors|proto_errors)=' "$STATUS" | tr '\n' ' ')"
}

# ---- the memory hog and the tmpfs data -------------------------------------

HOG_PID=""
HOG_RUNS=0

start_pressure() {
	local tag=$1 avail hog tmp n
	avail=$(meminfo_mib MemAvailable)
	# The hog alone fits in RAM, so that verifying it reads its swapped
	# pages back once instead of thrashing; the tmpfs data on top pushes
	# EXTRA MiB past what RAM holds.
	hog=$((avail * 7 / 10))
	tmp=$((avail - hog + EXTRA))
	info "pressure($tag): MemAvailable=${avail}MiB, hog ${hog}MiB + tmpfs ${tmp}MiB"
	rm -f /tmp/hog.ready "$HOG_LOG"
	# The hog is the OOM killer's first choice, should it come to that.
	(echo 1000 >/proc/self/oom_score_adj && exec e2e-hog "$hog" "$RANDOM" /tmp/hog.ready) >"$HOG_LOG" 2>&1 &
	HOG_PID=$!
	HOG_RUNS=0
	if ! wait_for 300 test -e /tmp/hog.ready; then
		fail "pressure($tag): the hog did not finish filling ${hog}MiB: $(cat "$HOG_LOG")"
		return 1
	fi
	mkdir -p "$PRESS"
	mount -t tmpfs -o size=$((tmp + 16))m e2e-press "$PRESS" || { fail "pressure($tag): tmpfs"; return 1; }
	# Random data in 16 MiB files; sha256 of each kept outside the tmpfs.
	n=0
	while ((n * 16 < tmp)); do
		dd if=/dev/urandom of="$PRESS/f$n" bs=1M count=16 status=none || {
			fail "pressure($tag): writing $PRESS/f$n"
			return 1
		}
		n=$((n + 1))
	done
	(cd "$PRESS" && sha256sum f*) >/tmp/press.sha256
	return 0
}

# Asks the hog to verify every page; succeeds when its new line says ok.
hog_verify() {
	local want=$((HOG_RUNS + 1)) line
	kill -USR1 "$HOG_PID" 2>/dev/null || { echo "hog is gone"; return 1; }
	HOG_RUNS=$want
	if ! wait_for 300 hog_answered "$want"; then
		echo "hog did not answer"
		return 1
	fi
	line=$(grep "verify(usr1)" "$HOG_LOG" | tail -n 1)
	echo "$line"
	case $line in *" ok "*) return 0 ;; *) return 1 ;; esac
}

tmpfs_verify() {
	(cd "$PRESS" && sha256sum -c --quiet /tmp/press.sha256) 2>&1 | head -n 3
	return "${PIPESTATUS[0]}"
}

tmpfs_files() { wc -l </tmp/press.sha256; }

# Keeps the first N tmpfs files and their sums; the rest are deleted,
# which frees their swap slots without I/O.
tmpfs_keep() {
	tail -n +"$(($1 + 1))" /tmp/press.sha256 | while read -r _ f; do rm -f "$PRESS/$f"; done
	head -n "$1" /tmp/press.sha256 >/tmp/press.keep
	mv /tmp/press.keep /tmp/press.sha256
}

verify_all() {
	local tag=$1 h t in0 out0
	in0=$(vmstat_get pswpin)
	h=$(hog_verify) || { fail "$tag: hog data: $h"; return 1; }
	t=$(tmpfs_verify) || { fail "$tag: tmpfs data: $t"; return 1; }
	pass "$tag: hog ${h#hog: } ; tmpfs sha256 of $(tmpfs_files) files ok; pswpin +$(($(vmstat_get pswpin) - in0)) pages"
}

stop_hog() {
	local tag=$1 rc
	kill -TERM "$HOG_PID" 2>/dev/null
	wait "$HOG_PID"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "free($tag): $(tail -n 1 "$HOG_LOG")"
	else
		fail "free($tag): hog exited $rc: $(tail -n 2 "$HOG_LOG" | tr '\n' ' ')"
	fi
	HOG_PID=""
}

# ---- attaching: the project's scripts (local) or nbd-client (remote) -----

write_defaults() {
	mkdir -p /etc/default
	cat >/etc/default/vram-swap <<EOF
# written by the e2e guest
VRAM_SWAP_BACKEND=host
VRAM_SWAP_SIZE=$EXPORT_SIZE
VRAM_SWAP_MIN_SIZE=64M
VRAM_SWAP_PRIORITY=$PRIO
VRAM_SWAP_CONNECTIONS=$1
VRAM_SWAP_NBD_DEVICE=auto
VRAM_SWAP_DISCARD=on
VRAM_SWAP_CHUNK=${2:-$EXPORT_SIZE}
VRAM_SWAP_AUTO=off
VRAM_SWAP_COMPRESS=${COMPRESS:-off}
EOF
}

attach() {
	local tag=$1 conns=$2 out dev prio q want
	if [ "$MODE" = local ]; then
		write_defaults "$conns"
		out=$(timeout -s KILL 180 vram-swap-setup 2>&1) || {
			fail "setup($tag): vram-swap-setup exited $?: $(echo "$out" | tail -n 5 | tr '\n' '|')"
			return 1
		}
		printf '    setup: %s\n' "${out//$'\n'/$'\n'    setup: }"
	else
		out=$( { nbd-client "${SERVER%:*}" "${SERVER#*:}" /dev/nbd0 -b 4096 -C "$conns" -N vram-swap &&
			mkswap /dev/nbd0 && swapon -p "$PRIO" /dev/nbd0; } 2>&1) || {
			fail "setup($tag): $(echo "$out" | tail -n 5 | tr '\n' '|')"
			return 1
		}
	fi
	dev=$(swap_dev)
	prio=$(awk '$1 ~ /^\/dev\/nbd/ { print $5 }' /proc/swaps)
	[ -n "$dev" ] || { fail "setup($tag): no nbd device in /proc/swaps: $(tr '\n' '|' </proc/swaps)"; return 1; }
	[ "$prio" = "$PRIO" ] || { fail "setup($tag): $dev has priority $prio, configured $PRIO"; return 1; }
	# One blk-mq hardware queue per nbd connection, at most one per CPU.
	q=$(find "/sys/block/${dev#/dev/}/mq" -mindepth 1 -maxdepth 1 -type d | wc -l)
	want=$((conns < $(nproc) ? conns : $(nproc)))
	[ "$q" = "$want" ] || { fail "setup($tag): $dev has $q queues, wanted $want for $conns connections"; return 1; }
	if [ "$MODE" = local ]; then
		[ "$(status_get state)" = serving ] || { fail "setup($tag): daemon state '$(status_get state)', wanted serving"; return 1; }
		[ -n "$(daemon_pid)" ] || { fail "setup($tag): daemon pid '$(status_get pid)' not running"; return 1; }
		# The status file is rewritten about once a second.
		wait_for 5 status_is clients "$conns" ||
			{ fail "setup($tag): daemon has $(status_get clients) clients, wanted $conns"; return 1; }
	fi
	DEV=$dev
	pass "setup($tag): $(grep "^$dev " /proc/swaps | tr -s ' \t' ' ') with $conns connection(s), $q queue(s)"
}

# shellcheck disable=SC2317 # run through wait_for
nbd_all_free() {
	local d
	for d in /sys/block/nbd*; do
		[ -e "$d/pid" ] && return 1
		[ "$(cat "$d/size")" = 0 ] || return 1
	done
	return 0
}

detach_ok() {
	local tag=$1 out dpid
	dpid=$(daemon_pid)
	if [ "$MODE" = local ]; then
		out=$(timeout -s KILL 300 vram-swap-teardown 2>&1) || {
			fail "teardown($tag): vram-swap-teardown exited $?: $(echo "$out" | tail -n 5 | tr '\n' '|')"
			return 1
		}
		printf '    teardown: %s\n' "${out//$'\n'/$'\n'    teardown: }"
	else
		out=$(timeout -s KILL 300 swapoff "$DEV" 2>&1 && nbd-client -d "$DEV" 2>&1) || {
			fail "teardown($tag): $(echo "$out" | tail -n 5 | tr '\n' '|')"
			return 1
		}
	fi
	[ -z "$(swap_dev)" ] || { fail "teardown($tag): still in /proc/swaps: $(swap_dev)"; return 1; }
	wait_for 10 nbd_all_free || { fail "teardown($tag): an nbd device is still attached"; return 1; }
	if [ "$MODE" = local ] && [ -n "$dpid" ]; then
		wait_for 60 gone "$dpid" ||
			{ fail "teardown($tag): daemon $dpid still running"; return 1; }
	fi
	pass "teardown($tag): swap off, no nbd device attached${dpid:+, daemon $dpid gone}"
}

# ---- one round ---------------------------------------------------------------

# Swap, nbd device and daemon as setup left them.
still_attached() {
	[ "$(swap_dev)" = "$DEV" ] && [ -e "/sys/block/${DEV#/dev/}/pid" ] &&
		{ [ "$MODE" != local ] || [ -n "$(daemon_pid)" ]; }
}

round() {
	local conns=$1 tag="C=$1${COMPRESS:+,$COMPRESS}" used out0 in0 out1 dpid out rc keep
	attach "$tag" "$conns" || return 1
	report_counters "$tag after setup"
	out0=$(vmstat_get pswpout)
	in0=$(vmstat_get pswpin)
	start_pressure "$tag" || return 1
	used=$(swap_used_kib)
	out1=$(vmstat_get pswpout)
	if [ "${used:-0}" -ge $((200 * 1024)) ]; then
		pass "pressure($tag): $((used / 1024)) MiB on $DEV, pswpout +$((out1 - out0)) pages"
	else
		fail "pressure($tag): only ${used:-0} KiB went to swap (want at least 200 MiB)"
	fi

	if [ "$conns" = 1 ]; then
		verify_all "verify($tag)"
		if [ "$MODE" = local ]; then
			# Too little RAM for the pages in swap: teardown must say no
			# and leave everything as it was. Bounded: a swapoff that
			# thrashes instead of failing is a failure too (timeout kills
			# its whole process group, swapoff included).
			info "teardown-refused($tag): MemAvailable=$(meminfo_mib MemAvailable)MiB, swap used $(($(swap_used_kib) / 1024))MiB"
			out=$(timeout -s KILL 120 vram-swap-teardown 2>&1)
			rc=$?
			if [ $rc = 0 ]; then
				fail "teardown-refused($tag): vram-swap-teardown succeeded with $(($(swap_used_kib) / 1024))MiB in swap and $(meminfo_mib MemAvailable)MiB available"
			elif [ $rc = 137 ]; then
				fail "teardown-refused($tag): vram-swap-teardown neither refused nor finished within 120 s (killed): $(echo "$out" | tail -n 2 | tr '\n' '|')"
			elif ! still_attached; then
				fail "teardown-refused($tag): refused but left things changed (swaps: $(swap_dev), daemon: $(daemon_pid))"
			else
				pass "teardown-refused($tag): refused (exit $rc): $(echo "$out" | tail -n 1)"
			fi
			# Still working: a quarter of the data read back.
			if t=$( (cd "$PRESS" && head -n 4 /tmp/press.sha256 | sha256sum -c --quiet) 2>&1) &&
				still_attached && [ -d "/proc/$HOG_PID" ]; then
				pass "after-refusal($tag): swap, device, daemon and hog in place; 4 tmpfs files read back intact"
			else
				fail "after-refusal($tag): attached=$(still_attached && echo yes || echo no) hog=$([ -d /proc/$HOG_PID ] && echo alive || echo gone) $t"
			fi
		fi
	else
		# SIGTERM with swap in use: the daemon must drain, not exit, and
		# go on serving every page back.
		if [ "$MODE" = local ]; then
			dpid=$(daemon_pid)
			kill -TERM "$dpid"
			sleep 2
			if [ -d "/proc/$dpid" ] && wait_for 10 status_is state draining; then
				pass "sigterm($tag): daemon $dpid still running, state=draining"
			else
				fail "sigterm($tag): daemon $dpid: running=$([ -d /proc/"$dpid" ] && echo yes || echo no) state=$(status_get state)"
			fi
		else
			# The host runner sends it on seeing this line and answers on
			# the second serial port.
			say "HOST sigterm"
			if read -r -t 60 out <&9; then
				case $out in
				ok*) pass "sigterm($tag): host: ${out#ok }" ;;
				*) fail "sigterm($tag): host: $out" ;;
				esac
			else
				fail "sigterm($tag): no answer from the host runner"
			fi
		fi
		verify_all "verify($tag)"
		if [ -d "/proc/$HOG_PID" ] && still_attached; then
			pass "after-sigterm($tag): hog alive, swap still on $DEV"
		else
			fail "after-sigterm($tag): hog=$([ -d /proc/$HOG_PID ] && echo alive || echo gone) attached=$(still_attached && echo yes || echo no)"
		fi
	fi

	report_counters "$tag under pressure"
	if [ "$MODE" = local ]; then
		if [ "$(status_get io_errors)" = 0 ] && [ "$(status_get proto_errors)" = 0 ] &&
			[ "$(status_get writes)" -gt 0 ] && [ "$(status_get reads)" -gt 0 ]; then
			pass "counters($tag): reads=$(status_get reads) writes=$(status_get writes) read_bytes=$(status_get read_bytes) write_bytes=$(status_get write_bytes) trims=$(status_get trims), no errors"
		else
			fail "counters($tag): $(tr '\n' ' ' <"$STATUS")"
		fi
	fi

	stop_hog "$tag"
	# Keep a quarter of the tmpfs data: swapoff must bring back what of it
	# is still in swap, and it is checked after; the rest is only dropped
	# (freeing swap slots needs no I/O), to keep the run short.
	keep=$(($(tmpfs_files) / 4 + 1))
	tmpfs_keep "$keep"
	info "teardown($tag): swap used $(($(swap_used_kib) / 1024))MiB, MemAvailable=$(meminfo_mib MemAvailable)MiB"
	detach_ok "$tag"
	if out=$(tmpfs_verify); then
		pass "after-teardown($tag): sha256 of $keep tmpfs files ok after swapoff"
	else
		fail "after-teardown($tag): tmpfs data: $out"
	fi
	umount "$PRESS"
	info "vmstat($tag): pswpin +$(($(vmstat_get pswpin) - in0)) pswpout +$(($(vmstat_get pswpout) - out0)) pages"
	check_kernel "$tag"
}

# ---- the elastic round: chunks, resize, yield ----------------------------------

chunk_swaps() { grep -c '^/dev/nbd' /proc/swaps; }
swap_used_all_kib() { awk '$1 ~ /^\/dev\/nbd/ { s += $4 } END { print s + 0 }' /proc/swaps; }

# Four chunks of 128 MiB under the same pressure as the other rounds. A
# shrink to two works while the hog runs (the pages of the chunks released
# go to RAM or to the chunks that stay); giving back every chunk cannot fit
# the pages in RAM: refused part way, nothing lost. Then, with most of the
# tmpfs data dropped and the hog gone, grow back; then vram-swap-yield
# around a command. (VRAM_SWAP_AUTO=off: the host backend's "free memory" is the
# guest's RAM, which the pressure itself takes; the policy is tested on
# the fake GPU instead.)
elastic_round() {
	local tag=elastic out rc n prios used spread keep more stay=256
	write_defaults 1 128M
	out=$(timeout -s KILL 180 vram-swap-setup 2>&1) || {
		fail "setup($tag): vram-swap-setup exited $?: $(echo "$out" | tail -n 5 | tr '\n' '|')"
		return 1
	}
	n=$(chunk_swaps)
	prios=$(awk '$1 ~ /^\/dev\/nbd/ { print $5 }' /proc/swaps | sort -u | tr '\n' ' ')
	if [ "$n" = 4 ] && [ "$prios" = "$PRIO " ]; then
		pass "setup($tag): 4 chunks, each its own nbd device and swap area at priority $PRIO"
	else
		fail "setup($tag): $n swap areas, priorities '$prios': $(tr '\n' '|' </proc/swaps)"
		return 1
	fi
	start_pressure "$tag" || return 1
	used=$(swap_used_all_kib)
	spread=$(awk '$1 ~ /^\/dev\/nbd/ && $4 > 0' /proc/swaps | wc -l)
	if [ "$used" -ge $((200 * 1024)) ] && [ "$spread" -ge 2 ]; then
		pass "pressure($tag): $((used / 1024)) MiB in swap over $spread chunks"
	else
		fail "pressure($tag): ${used} KiB in swap over $spread chunk(s): $(tr '\n' '|' </proc/swaps)"
	fi
	verify_all "verify($tag)"

	# The shrink's premise, checked rather than assumed: what sits in swap
	# fits in the two chunks that stay and the RAM available, less the
	# 64 MiB resize keeps free and a margin for reclaim's movement. Under
	# this pressure it is close, so tmpfs files go until it holds.
	while [ $(($(swap_used_all_kib) / 1024 + 64 + 48)) -gt $(($(meminfo_mib MemAvailable) + stay)) ] &&
		[ "$(tmpfs_files)" -gt 4 ]; do
		tmpfs_keep $(($(tmpfs_files) - 1))
	done
	out=$(timeout -s KILL 300 vram-swap-resize "${stay}M" 2>&1)
	rc=$?
	n=$(chunk_swaps)
	if [ $rc = 0 ] && [ "$n" = 2 ]; then
		pass "shrink($tag): 2 chunks left while the hog runs, $(($(swap_used_all_kib) / 1024)) MiB in swap"
	else
		fail "shrink($tag): exit $rc, $n chunk(s): $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi
	verify_all "verify-after-shrink($tag)"

	# The two chunks given back returned their memory (the host backend's
	# "VRAM" is this guest's RAM): take it again with more tmpfs data, so
	# that giving back every chunk would need pages that fit nowhere. The
	# first chunk's swapoff is refused; it stays attached and serving.
	# Until what sits in swap exceeds what RAM could take back by a
	# clear margin (the refusal's premise, checked rather than assumed:
	# the kernel's reclaim makes MemAvailable move), within what the two
	# remaining chunks hold.
	more=0
	while [ $more -lt 12 ] &&
		[ $(($(swap_used_all_kib) / 1024)) -lt $(($(meminfo_mib MemAvailable) + 128)) ]; do
		dd if=/dev/urandom of="$PRESS/g$more" bs=1M count=16 status=none || break
		more=$((more + 1))
	done
	(cd "$PRESS" && sha256sum g*) >>/tmp/press.sha256
	info "refused($tag): $((more * 16)) MiB more in tmpfs; MemAvailable=$(meminfo_mib MemAvailable)MiB, swap used $(($(swap_used_all_kib) / 1024))MiB"
	out=$(timeout -s KILL 300 vram-swap-resize 0 2>&1)
	rc=$?
	n=$(chunk_swaps)
	if [ $rc = 1 ] && [ "$n" -ge 1 ] && [ -d "/proc/$HOG_PID" ]; then
		pass "refused($tag): giving back every chunk stopped with $n attached (exit 1): $(echo "$out" | grep error | head -n 1)"
	elif [ $rc = 0 ] && [ "$n" = 0 ] && [ -d "/proc/$HOG_PID" ]; then
		# The kernel's reclaim can free enough RAM between the measure
		# above and the last chunk's fit check; then every page fits and
		# the swapoffs are right to go ahead. The refusal itself is
		# exercised by teardown-refused(C=1); what must hold here is that
		# nothing is lost (verify-after-refusal) and the exit status
		# matches what was done.
		pass "refused($tag): every page fit back this time (MemAvailable now $(meminfo_mib MemAvailable)MiB): all chunks given back (exit 0), nothing detached before its swapoff"
	else
		fail "refused($tag): exit $rc, $n chunk(s) attached: $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi
	verify_all "verify-after-refusal($tag)"

	keep=$(($(tmpfs_files) / 4 + 1))
	tmpfs_keep "$keep"
	stop_hog "$tag"

	out=$(timeout -s KILL 180 vram-swap-resize max 2>&1)
	rc=$?
	n=$(chunk_swaps)
	if [ $rc = 0 ] && [ "$n" = 4 ]; then
		pass "grow($tag): back to 4 chunks"
	else
		fail "grow($tag): exit $rc, $n chunk(s): $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi

	rm -f /tmp/yield.during
	out=$(timeout -s KILL 300 vram-swap-yield -- sh -c 'sleep 5; grep -c "^/dev/nbd" /proc/swaps >/tmp/yield.during; true' 2>&1)
	rc=$?
	n=$(chunk_swaps)
	if [ $rc = 0 ] && [ "$(cat /tmp/yield.during 2>/dev/null)" = 0 ] && [ "$n" = 4 ]; then
		pass "yield($tag): no chunk during 'sleep 5', 4 again after"
	else
		fail "yield($tag): exit $rc, during $(cat /tmp/yield.during 2>/dev/null), after $n: $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi

	detach_ok "$tag"
	if out=$(tmpfs_verify); then
		pass "after-teardown($tag): sha256 of $keep tmpfs files ok after every chunk's swapoff"
	else
		fail "after-teardown($tag): tmpfs data: $out"
	fi
	umount "$PRESS"
	check_kernel "$tag"
}

# ---- the daemon killed under swap: pages outlive it ---------------------------

# Milliseconds since boot, the kernel log's clock.
uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# Starts one of the hog's verifying passes, once the last one answered
# (signals do not queue: one verification at a time).
hog_kick() {
	wait_for 300 hog_answered "$HOG_RUNS" || return 1
	kill -USR1 "$HOG_PID"
	HOG_RUNS=$((HOG_RUNS + 1))
}

# Waits for the hog's last pass; true when none of its passes found a bad
# page. Else BAD says why.
hog_clean() {
	local n
	wait_for 300 hog_answered "$HOG_RUNS" || { bad="the hog did not answer its last verification"; return 1; }
	n=$(grep -c 'verify(usr1) BAD' "$HOG_LOG")
	[ "$n" = 0 ] || { bad="$n of the hog's verifications found bad pages"; return 1; }
}

# The tier as vram-swap-setup makes it without systemd: the daemon under
# vram-swap-holder (which keeps its pages and starts it again), one chunk
# attached by the daemon itself with a dead-connection timeout; the usual
# pressure; then RESTARTS times kill -9, each during a verifying pass of
# the hog or a burst of tmpfs writes that pushes pages out. After each
# kill a direct read of the device times how long the kernel waited for a
# daemon to serve again; every page is checked after all the kills,
# vram-swap-teardown must take it all down, and the kernel log must hold
# no I/O error.
restart_round() {
	local tag=restart dev holder out i pid
	local t0 ms all="" in0 out0 line bad="" n burst
	write_defaults 1
	out=$(timeout -s KILL 180 vram-swap-setup 2>&1) || {
		fail "setup($tag): vram-swap-setup exited $?: $(echo "$out" | tail -n 5 | tr '\n' '|')"
		return 1
	}
	dev=$(swap_dev)
	holder=$(sed -n 's/^holder=//p' /run/vram-swap/setup.state)
	if [ -z "$dev" ] || [ "$(status_get crash_safe)" != yes ] || [ -z "$holder" ] ||
		[ "$(awk '/^PPid:/ { print $2 }' "/proc/$(daemon_pid)/status")" != "$holder" ]; then
		fail "setup($tag): swap '$dev', crash_safe '$(status_get crash_safe)' ($(status_get crash_safe_why)), holder '$holder': $(echo "$out" | tail -n 3 | tr '\n' '|')"
		return 1
	fi
	pass "setup($tag): daemon $(daemon_pid) under holder $holder, crash-safe; $dev backend $(cat "/sys/block/${dev#/dev/}/backend")"
	start_pressure "$tag" || return 1
	in0=$(vmstat_get pswpin)
	out0=$(vmstat_get pswpout)
	for ((i = 1; i <= RESTARTS; i++)); do
		pid=$(daemon_pid)
		[ -n "$pid" ] || { bad="kill $i: no daemon running"; break; }
		burst=""
		if ((i % 2)); then
			hog_kick || { bad="kill $i: the hog did not answer"; break; }
		else
			dd if=/dev/urandom of="$PRESS/burst" bs=1M count=12 status=none &
			burst=$!
		fi
		sleep "0.$((RANDOM % 10))"
		t0=$(uptime_ms)
		kill -9 "$pid"
		# A request sent once the daemon is gone waits in the kernel until
		# a daemon serves again. (One sent before reached the dead
		# daemon's socket: it waits for the kernel's request timer.)
		wait_for 30 gone "$pid" || { bad="kill $i: daemon $pid did not die"; break; }
		if ! timeout 120 dd if="$dev" of=/dev/null bs=4096 count=1 skip=$((RANDOM % 1024)) \
			iflag=direct status=none; then
			bad="kill $i: a read of $dev failed after the kill"
			break
		fi
		ms=$(($(uptime_ms) - t0))
		all="$all $ms"
		[ -z "$burst" ] || wait "$burst"
		rm -f "$PRESS/burst"
		wait_for 30 serving_anew "$pid" || { bad="kill $i: no new daemon serving"; break; }
	done
	[ -n "$bad" ] || hog_clean
	if [ -n "$bad" ]; then
		fail "kills($tag): $bad; served again after (ms):$all; daemon log: $(tail -n 4 /var/log/vram-swapd.log | tr '\n' '|')"
	else
		n=$(dmesg | grep -c 'reconnected socket')
		line=$(dmesg | grep -c 'Possible stuck request')
		pass "kills($tag): $RESTARTS kill -9s; from each kill to a new request served (ms):$all; p50 $(echo "$all" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') ms, max $(echo "$all" | tr ' ' '\n' | sort -n | tail -n 1) ms; the kernel logged $n reconnected sockets and $line requests in flight at a kill, sent again"
	fi
	# An in-place restart (what a package upgrade runs): the daemon hands
	# its pages over, with a verification going on, and the holder starts
	# the binary on disk; swap stays on.
	all="" bad=""
	for ((i = 1; i <= 3; i++)); do
		pid=$(daemon_pid)
		hog_kick || { bad="restart $i: the hog did not answer"; break; }
		sleep "0.$((RANDOM % 10))"
		t0=$(uptime_ms)
		out=$(timeout -s KILL 120 vram-swap-setup --restart 2>&1) || { bad="restart $i: vram-swap-setup --restart exited $?: $(echo "$out" | tail -n 3 | tr '\n' '|')"; break; }
		all="$all $(($(uptime_ms) - t0))"
		line=$(sed -n 's/^pid=//p' /run/vram-swap/setup.state)
		if [ "$(daemon_pid)" = "$pid" ] || [ "$line" != "$(daemon_pid)" ] || [ "$(swap_dev)" != "$dev" ] ||
			! echo "$out" | grep -q "restarted in place (pid $pid, now $line): swap stayed on $dev"; then
			bad="restart $i: daemon $pid, now '$(daemon_pid)', recorded '$line', swap '$(swap_dev)': $(echo "$out" | tr '\n' '|')"
			break
		fi
	done
	[ -n "$bad" ] || hog_clean
	if [ -n "$bad" ]; then
		fail "in-place($tag): $bad; daemon log: $(tail -n 4 /var/log/vram-swapd.log | tr '\n' '|')"
	else
		pass "in-place($tag): 3 vram-swap-setup --restart under pressure, each a new daemon on the same pages, swap on $dev throughout; each took (ms):$all"
	fi
	verify_all "verify($tag)"
	if [ "$(vmstat_get pswpin)" -gt "$in0" ] && [ "$(vmstat_get pswpout)" -gt "$out0" ]; then
		pass "swapping($tag): pswpin +$(($(vmstat_get pswpin) - in0)) pswpout +$(($(vmstat_get pswpout) - out0)) pages across the kills and restarts"
	else
		fail "swapping($tag): pswpin/pswpout did not rise across the kills"
	fi
	stop_hog "$tag"
	umount "$PRESS"
	pid=$(daemon_pid)
	if out=$(timeout -s KILL 300 vram-swap-teardown 2>&1) && [ -z "$(swap_dev)" ] && wait_for 10 nbd_all_free && wait_for 10 gone "$holder" &&
		wait_for 10 gone "$pid"; then
		pass "teardown($tag): swap off, $dev detached, daemon $pid and holder $holder gone"
	else
		fail "teardown($tag): swaps '$(swap_dev)', holder $([ -d "/proc/$holder" ] && echo alive || echo gone): $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi
	check_kernel "$tag"
}

# ---- page counts, held to zram's ------------------------------------------------

# zram's mm_stat field N (1: orig_data_size, 6: same_pages).
mm_stat() { awk -v n="$1" '{ print $n }' /sys/block/zram0/mm_stat; }

# The same pages (the hog's kinds: data, zeros, one word repeated, nearly
# so) written to a zram device and to an export of a daemon of its own,
# then a part of each discarded: the daemon's stored_pages and same_pages
# must be zram's orig_data_size/4096 and same_pages, and the generator's
# own count, at each point.
same_pages_round() {
	local img=/tmp/pages.img sock=/run/vs-pages/sock st=/run/vs-pages/status
	local nbd=/dev/nbd15 pid gen out k z o seen="" why=""
	gen=$(e2e-hog --image 32 0x5eed "$img") || { fail "same-pages: cannot write the image: $gen"; return; }
	mkdir -m 0700 /run/vs-pages
	vram-swapd --backend host --size 64M --socket "$sock" --status-file "$st" \
		>/tmp/vs-pages.log 2>&1 &
	pid=$!
	out=$( { modprobe zram && echo 64M >/sys/block/zram0/disksize &&
		dd if="$img" of=/dev/zram0 bs=1M oflag=direct &&
		wait_for 20 test -S "$sock" && nbd-client -unix "$sock" "$nbd" -b 4096 -N vram-swap &&
		dd if="$img" of="$nbd" bs=1M oflag=direct; } 2>&1) ||
		why="writing the image: $(echo "$out" | tail -n 3 | tr '\n' '|')"
	for k in written discarded; do
		[ -z "$why" ] || break
		if [ "$k" = discarded ]; then
			out=$( { blkdiscard -o 4194304 -l 8388608 /dev/zram0 &&
				blkdiscard -o 4194304 -l 8388608 "$nbd"; } 2>&1) ||
				{ why="blkdiscard: $(echo "$out" | tr '\n' '|')"; break; }
		fi
		z="$(($(mm_stat 1) / 4096)) $(mm_stat 6)"
		# The status file is rewritten about once a second.
		sleep 1.5
		o="$(sed -n 's/^stored_pages=//p' "$st") $(sed -n 's/^same_pages=//p' "$st")"
		[ "$z" = "$o" ] || why="$k: zram says stored/same $z, vram-swapd $o"
		seen="$seen${seen:+; }$k $o"
	done
	nbd-client -d "$nbd" >/dev/null 2>&1
	kill "$pid" 2>/dev/null
	wait "$pid"
	echo 1 >/sys/block/zram0/reset
	# 32 MiB: 8192 pages, a quarter same-filled; the 2048 discarded hold 512.
	if [ -z "$why" ] && { [ "$gen" != "pages=8192 same=2048" ] ||
		[ "$seen" != "written 8192 2048; discarded 6144 1536" ]; }; then
		why="the counts are not those of the image ($gen): $seen"
	fi
	if [ -z "$why" ]; then
		pass "same-pages(zram): stored/same pages as zram's mm_stat counts them: $seen"
	else
		fail "same-pages(zram): $why; daemon log: $(tail -n 3 /tmp/vs-pages.log | tr '\n' '|')"
	fi
}

# ---- compression, held to zram's ------------------------------------------------

# x100 as a ratio with two decimals.
cents() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

# Each workload image (tests/e2e/workloads.py: the pages real programs
# hold) written to a zram device and to a daemon of its own, both with the
# same compressor and twice the memory in swap. The daemon must count the
# pages as zram's mm_stat does, read every byte back, and hold them in
# memory at most RATIO_SLACK percent above zram's mem_used_total. Each
# step's line carries both sides' figures.
RATIO_SLACK=0
ratio_round() {
	local alg img name sock=/run/vs-ratio/sock st=/run/vs-ratio/status nbd=/dev/nbd15
	local pid out why zo zc zu zs o_st o_sa o_u o_c zr vr bytes
	mkdir -p /run/vs-ratio && chmod 0700 /run/vs-ratio
	for alg in lz4 zstd; do
		for img in /e2e/workloads/*.img; do
			[ -e "$img" ] || { fail "ratio: no workload images in /e2e/workloads"; return; }
			name=$(basename "$img" .img)
			why=""
			bytes=$(stat -c %s "$img")
			rm -f "$st" "$sock"
			vram-swapd --backend host --size 24M --compress "$alg" --socket "$sock" \
				--status-file "$st" >/tmp/vs-ratio.log 2>&1 &
			pid=$!
			out=$( { echo "$alg" >/sys/block/zram0/comp_algorithm &&
				echo 48M >/sys/block/zram0/disksize &&
				dd if="$img" of=/dev/zram0 bs=1M oflag=direct &&
				wait_for 20 test -S "$sock" && nbd-client -unix "$sock" "$nbd" -b 4096 -N vram-swap &&
				dd if="$img" of="$nbd" bs=1M oflag=direct; } 2>&1) ||
				why="writing the image: $(echo "$out" | tail -n 3 | tr '\n' '|')"
			if [ -z "$why" ]; then
				read -r zo zc zu _ _ zs _ </sys/block/zram0/mm_stat
				# The status file is rewritten about once a second.
				sleep 1.5
				o_st=$(sed -n 's/^stored_pages=//p' "$st")
				o_sa=$(sed -n 's/^same_pages=//p' "$st")
				o_u=$(sed -n 's/^used_bytes=//p' "$st")
				o_c=$(sed -n 's/^compr_bytes=//p' "$st")
				if [ "$(head -c "$bytes" "$nbd" | sha256sum | cut -d' ' -f1)" != \
					"$(sha256sum <"$img" | cut -d' ' -f1)" ]; then
					why="the pages read back differ from the image"
				elif [ "$((o_st * 4096))" != "$zo" ] || [ "$o_sa" != "$zs" ]; then
					why="zram stores $((zo / 4096)) pages, $zs same-filled; vram-swapd $o_st, $o_sa"
				elif [ "${o_u:-0}" -le 0 ] || [ "$zu" -le 0 ]; then
					why="no memory in use: zram $zu, vram-swapd '$o_u'"
				fi
			fi
			nbd-client -d "$nbd" >/dev/null 2>&1
			kill "$pid" 2>/dev/null
			wait "$pid"
			echo 1 >/sys/block/zram0/reset
			if [ -n "$why" ]; then
				fail "ratio($name,$alg): $why; daemon log: $(tail -n 3 /tmp/vs-ratio.log | tr '\n' '|')"
				continue
			fi
			zr=$((zo * 100 / zu))
			vr=$((o_st * 4096 * 100 / o_u))
			out="vram-swapd $(cents "$vr") (pages $o_st, same $o_sa, compr $o_c, held $o_u), zram $(cents "$zr") (orig $zo, compr $zc, mem_used $zu, same $zs)"
			if [ $((o_u * 100)) -le $((zu * (100 + RATIO_SLACK))) ]; then
				pass "ratio($name,$alg): $out"
			else
				fail "ratio($name,$alg): holds more than zram: $out"
			fi
		done
	done
	# The images live in the initramfs's RAM: give it to the rounds after.
	rm -f /e2e/workloads/*.img
}

# ---- fio on the raw device: what a page fault waits for ---------------------

FIO_DEV=/dev/nbd14

# One fio job on $FIO_DEV: prints the IOPS and the p50 and p99 (us) of
# the whole latency of its reads or writes, submission to completion (nbd
# sends a request inside io_uring_enter, so completion latency alone
# would leave the send out), from fio's terse output (v3: reads' IOPS in
# field 8 and percentiles from 18, writes' from 49 and 59).
fio_job() {
	local dir=$1 t
	shift
	t=$(fio --name=e2e --thread --minimal --lat_percentiles=1 \
		--clat_percentiles=0 --percentile_list=50:99 --filename="$FIO_DEV" \
		--direct=1 --ioengine=io_uring --randrepeat=0 "$@" 2>&1) || { echo "$t" | tail -n 3; return 1; }
	echo "$t" | awk -F';' -v d="$dir" '
		{ i = (d == "read") ? 8 : 49; p = (d == "read") ? 18 : 59 }
		$1 != 3 || $5 != 0 || $p !~ /^50\.0+%=/ || $(p + 1) !~ /^99\.0+%=/ { print "unexpected output: " $0; exit 1 }
		{ a = $p; b = $(p + 1); sub(/.*=/, "", a); sub(/.*=/, "", b); print $i " IOPS, p50 " a " us, p99 " b " us" }'
}

# 4 KiB random reads and writes at queue depths 1 and 32 through the
# kernel's nbd driver, O_DIRECT, on data that compresses as swapped-out
# heaps do (fio's buffer_compress_percentage=60: lz4 stores about 2.4:1);
# then a pass that checks every block written (crc32c). $1 names the
# compressor of a daemon of its own (local mode); "remote": the host
# daemon serves, with whatever E2E_ARGS gave it.
fio_round() {
	local alg=$1 tag=,$1 sock=/run/vs-fio/sock st=/run/vs-fio/status
	local region verify conns pid="" out why="" qd op r
	local data=(--buffer_compress_percentage=60 --refill_buffers)
	if [ "$MODE" = local ]; then
		region=24M verify=8M conns=2
		mkdir -p /run/vs-fio && chmod 0700 /run/vs-fio
		rm -f "$sock" "$st"
		vram-swapd --backend host --size 32M --compress "$alg" --socket "$sock" \
			--status-file "$st" >/tmp/vs-fio.log 2>&1 &
		pid=$!
		out=$( { wait_for 20 test -S "$sock" &&
			nbd-client -unix "$sock" "$FIO_DEV" -b 4096 -C "$conns" -N vram-swap; } 2>&1) ||
			why="attach: $(echo "$out" | tail -n 3 | tr '\n' '|')"
	else
		region=128M verify=32M conns=4
		out=$(nbd-client "${SERVER%:*}" "${SERVER#*:}" "$FIO_DEV" -b 4096 -C "$conns" -N vram-swap 2>&1) ||
			why="attach: $(echo "$out" | tail -n 3 | tr '\n' '|')"
	fi
	if [ -z "$why" ]; then
		out=$(fio_job write --rw=write --bs=1M --iodepth=4 --size="$region" "${data[@]}") &&
			info "fio(fill$tag): $region written, $out" ||
			why="fill: $(echo "$out" | tr '\n' '|')"
	fi
	for qd in 1 32; do
		for op in read write; do
			if [ -n "$why" ]; then
				fail "fio(rand$op,QD$qd$tag): $why"
				continue
			fi
			if r=$(fio_job "$op" --rw="rand$op" --bs=4k --iodepth="$qd" --size="$region" \
				--time_based --runtime="$FIO_SECS" "${data[@]}"); then
				pass "fio(rand$op,QD$qd$tag): $r ($conns connections)"
			else
				fail "fio(rand$op,QD$qd$tag): $(echo "$r" | tr '\n' '|')"
			fi
		done
	done
	if [ -z "$why" ]; then
		if r=$(fio_job write --rw=randwrite --bs=4k --iodepth=32 --size="$verify" \
			--verify=crc32c --do_verify=1 --verify_fatal=1 "${data[@]}"); then
			pass "fio-verify($alg): $verify written at random and read back, every crc32c right"
		else
			fail "fio-verify($alg): $(echo "$r" | tr '\n' '|')"
		fi
	else
		fail "fio-verify($alg): $why"
	fi
	[ -r "$st" ] && info "fio($alg) daemon: $(grep -E '^(stored_pages|same_pages|used_bytes|compr_bytes|io_errors|full_writes)=' "$st" | tr '\n' ' ')"
	nbd-client -d "$FIO_DEV" >/dev/null 2>&1
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid"
	fi
}

# ---- main ---------------------------------------------------------------------

info "mode=$MODE kernel=$(uname -r) cpus=$(nproc) MemTotal=$(meminfo_mib MemTotal)MiB"

if [ "$MODE" = remote ]; then
	if ! stty -F /dev/ttyS1 raw -echo; then
		fail "ctl: no second serial port"
	fi
	exec 9</dev/ttyS1
	out=$( { modprobe virtio_pci && modprobe virtio_net && wait_for 10 test -e /sys/class/net/eth0 &&
		ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 &&
		ip route add default via 10.0.2.2; } 2>&1) || fail "network: cannot bring up eth0: $out"
fi
if modprobe nbd; then
	pass "modprobe: nbd loaded, $(find /sys/block -name 'nbd*' | wc -l) devices"
else
	fail "modprobe: modprobe nbd failed"
fi

[ "$MODE" = local ] && same_pages_round
[ "$MODE" = local ] && ratio_round
if [ "$FIO_SECS" -gt 0 ]; then
	if [ "$MODE" = local ]; then
		fio_round off
		[ "$COMPRESSED" != off ] && fio_round "$COMPRESSED"
	else
		fio_round remote
	fi
fi

for c in $CONNS; do
	round "$c"
	# A failed round may leave swap on; later rounds would only add noise.
	if [ -n "$(swap_dev)" ]; then
		fail "round(C=$c): left $(swap_dev) attached, stopping"
		break
	fi
done

if [ "$MODE" = local ] && [ "$COMPRESSED" != off ] && [ -z "$(swap_dev)" ]; then
	COMPRESS=$COMPRESSED
	round 4
	COMPRESS=""
fi

if [ "$MODE" = local ] && [ "$ELASTIC" = 1 ] && [ -z "$(swap_dev)" ]; then
	elastic_round
fi

if [ "$MODE" = local ] && [ "$RESTARTS" -gt 0 ] && [ -z "$(swap_dev)" ]; then
	restart_round
fi

say "DONE fails=$FAILS"
exit "$FAILS"
