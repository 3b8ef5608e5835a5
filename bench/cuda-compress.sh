#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What compression costs on a real GPU: the standard nbdraw rows on chunk 0
# (1 GiB of an 8 GiB tier) with --compress off, lz4 and zstd, on pages that
# compress as a program's heap does. The written pages are the python
# workload of tests/e2e/workloads.py (a Python process holding dicts and
# strings, its resident anonymous pages), each led by its offset (nbdraw
# -F); the first row fills the span with them and verifies every read.
# After each row, the daemon's CPU time (user + system, from /proc) per
# request; after each setting, what the chunk holds. The sporadic rows (one
# read, then a pause) are what a page fault in a quiet program waits for.
# Needs gcc, python3 and the NVIDIA driver.
# Usage: bench/cuda-compress.sh        (from the source tree)
set -u
SIZE=${SIZE:-8G}
T=${T:-4}
SPAN=1073741824
make -s -j"$(nproc)" build/vram-swapd >/dev/null || exit 1
cc -O2 -pthread -o build/nbdraw tests/tools/nbdraw.c || exit 1
RUN=$(mktemp -d)
chmod 700 "$RUN"
S=$RUN/s
IMG=$RUN/wl/python.img
python3 tests/e2e/workloads.py "$RUN/wl" 24 2>/dev/null || exit 1
echo "commit: ${VS_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)"
echo "cpus: $(nproc)"
echo "data: tests/e2e/workloads.py python image, $(($(stat -c %s "$IMG") / 4096)) pages, cycled over the span"

# The daemon's CPU time in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# row NAME ARGS...: one nbdraw line, then the daemon's CPU per request.
row() {
	local name=$1 t0 t1 out
	shift
	t0=$(ticks "$P")
	out=$(build/nbdraw -s "$S" -z "$SPAN" "$@")
	t1=$(ticks "$P")
	echo "== $name"
	echo "$out"
	echo "$out" | awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v secs="$T" '
		{ for (i = 1; i <= NF; i++) if ($i ~ /^iops=/) { split($i, a, "="); n = a[2] * secs } }
		END { if (n > 0) printf "cpu_us_per_request=%.2f\n", t / hz * 1e6 / n }'
}

for c in off lz4 zstd; do
	echo "######## --compress $c"
	build/vram-swapd --backend cuda --size "$SIZE" --compress "$c" --socket "$S" \
		--status-file "$RUN/status" >"$RUN/log" 2>&1 &
	P=$!
	for _ in $(seq 300); do [ -S "$S" ] && break; sleep 0.1; done
	row "integrity row (fills the span)" -c 4 -q 8 -t "$T" -V -F "$IMG"
	row "4K QD1 read" -c 1 -q 1 -t "$T"
	row "4K QD1 write" -c 1 -q 1 -t "$T" -w 100 -F "$IMG"
	row "4K read, one every 1 ms" -c 1 -q 1 -t "$T" -i 1000
	row "4K read, one every 20 ms" -c 1 -q 1 -t "$T" -i 20000
	row "4K 8x32 read" -c 8 -q 32 -t "$T"
	row "4K 8x32 write" -c 8 -q 32 -t "$T" -w 100 -F "$IMG"
	row "1M seq read" -c 4 -q 4 -b 1048576 -S -t "$T"
	row "1M seq write" -c 4 -q 4 -b 1048576 -S -t "$T" -w 100 -F "$IMG"
	row "integrity row (verifies)" -c 4 -q 8 -t "$T" -V -F "$IMG"
	sleep 1.2
	echo "== held: $(grep -E '^chunk\.0=' "$RUN/status")"
	kill "$P"
	wait "$P"
	echo "daemon exit $?"
	grep -v "client \(dis\)\?connected" "$RUN/log"
done
rm -rf "$RUN"
