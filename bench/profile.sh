#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Per-request profile of vram-swapd: where a 4K read and a 4K write spend
# their time. Three views, each written under OUT (default build/profile):
#   callgrind-{write,read}.txt  user-space instructions per request, by
#                               function (exact and repeatable)
#   strace-{write,read}.txt     system calls per request
#   perf-{write,read}.txt       CPU time by symbol, kernel included
#                               (cpu-clock sampling; noisy, but it sees the
#                               socket and scheduler work callgrind cannot)
# Usage: bench/profile.sh [OUT]   (needs valgrind, strace, perf, fio)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/profile}
DAEMON=${VS_DAEMON:-$ROOT/build/vram-swapd}
N=${PROFILE_IOS:-16384}          # 4K requests per phase (= 64 MiB export)
SIZE=$((N * 4096))
mkdir -p "$OUT"
DIR=$(mktemp -d /tmp/vs-prof.XXXXXX)
chmod 700 "$DIR"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

start() {   # start [wrapper...]: the daemon on $DIR/sock, waits until it listens
	rm -f "$DIR/sock"
	"$@" "$DAEMON" --backend host --size "$SIZE" --min-size 4M --socket "$DIR/sock" \
		--status-file "" >"$DIR/log" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		[ -S "$DIR/sock" ] && return 0
		sleep 0.1
	done
	cat "$DIR/log"; exit 1
}
stop() { kill "$PID"; wait "$PID" || true; PID=; }

# Phase 1 writes every page once (sequential 4K, QD1), so that phase 2's
# random 4K reads (QD1) all find data: none is answered from the zero map.
load() {   # load write|randread [fio args...]
	local rw=$1; shift
	fio --name=p --ioengine=nbd --uri="nbd+unix:///?socket=$DIR/sock" --rw="$rw" \
		--bs=4k --iodepth=1 --number_ios="$N" --size="$SIZE" --randrepeat=1 \
		--output="$DIR/fio.out" "$@" >/dev/null
}

echo "profile: callgrind (user-space instructions)"
start valgrind --tool=callgrind --dump-after=vs_conn_serve \
	--callgrind-out-file="$DIR/cg.%p.%n"
load write; load randread
stop
# One dump per connection; the two largest are the write and read phases.
mapfile -t dumps < <(for f in "$DIR"/cg.*; do
	echo "$(sed -n 's/^summary: //p' "$f") $f"; done | sort -n | tail -2 | awk '{print $2}')
# Order by dump number (writes came first).
mapfile -t dumps < <(printf '%s\n' "${dumps[@]}" | sort -V)
for i in 0 1; do
	name=$([ "$i" = 0 ] && echo write || echo read)
	{
		echo "# callgrind, $N requests of 4 KiB $name at QD1; Ir = instructions"
		echo "# per request: $(( $(sed -n 's/^summary: //p' "${dumps[$i]}") / N )) Ir"
		# Inclusive: a dump taken as vs_conn_serve returns books self
		# cost to the thread's root, so only the call tree is meaningful.
		callgrind_annotate --inclusive=yes --auto=no "${dumps[$i]}" |
			awk '/file:function/ {on = 1; next} on && /^ *[0-9]/ && n++ < 30' 
	} >"$OUT/callgrind-$name.txt"
done

echo "profile: strace (system calls)"
start
strace -f -c -p "$PID" -o "$DIR/st-write" & ST=$!; sleep 0.5
load write; kill -INT $ST; wait $ST || true
strace -f -c -p "$PID" -o "$DIR/st-read" & ST=$!; sleep 0.5
load randread; kill -INT $ST; wait $ST || true
for p in read write; do
	strace -f -c -p "$PID" -o "$DIR/st-$p-qd32x2" & ST=$!; sleep 0.5
	load "rand$p" --iodepth=32 --numjobs=2 --thread; kill -INT $ST; wait $ST || true
done
stop
for p in write read write-qd32x2 read-qd32x2; do
	{ echo "# strace -c of the daemon, $N requests per connection, 4 KiB $p (QD1 unless named)"
	  cat "$DIR/st-$p"; } >"$OUT/strace-$p.txt"
done

echo "profile: perf (cpu-clock samples, kernel included)"
start
load write    # every page holds data before the reads
# name rw iodepth jobs: QD1 shows the cost of one request alone, QD32 on
# two connections the cost per request once batching works.
for spec in "read-qd1 randread 1 1" "write-qd1 randwrite 1 1" \
	"read-qd32x2 randread 32 2" "write-qd32x2 randwrite 32 2"; do
	read -r name rw qd jobs <<<"$spec"
	perf record -q -e cpu-clock -F 20000 -p "$PID" -o "$DIR/perf.data" 2>/dev/null & PR=$!
	sleep 0.5
	load "$rw" --number_ios=$((N * 4)) --iodepth="$qd" --numjobs="$jobs" --thread
	kill -INT $PR; wait $PR || true
	{
		echo "# perf record -e cpu-clock -p DAEMON; fio 4 KiB $rw, QD$qd x $jobs connection(s)"
		echo "# share of samples: kernel $(perf report -i "$DIR/perf.data" --stdio --sort dso \
			2>/dev/null | awk '/kernel/ {print $1}'); by stage (bench/perfcat.py):"
		perf report -i "$DIR/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null \
			>"$DIR/perf.txt"
		"$(dirname "$0")/perfcat.py" <"$DIR/perf.txt"
		echo "# by symbol:"
		awk '!/^#/ && NF && n++ < 25' "$DIR/perf.txt"
	} >"$OUT/perf-$name.txt"
done
stop
echo "profile: results in $OUT"
