#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The cuda backend on a real GPU, in one go: the Driver API declarations
# against the machine's cuda.h, the PCIe copy ceiling, the backend driven
# directly, start-up fault messages, and the standard nbdraw rows for
# --backend cuda and --backend host side by side, plus an 8 GiB integrity
# run with nbdtool, and the sporadic rows (one 4K request, then a pause)
# with both backends running at once, row by row. Needs gcc, the NVIDIA driver, libnbd.so.0 (for nbdtool;
# set LD_LIBRARY_PATH if it is carried).
# Usage: bench/cuda-gpu.sh        (from the source tree)
set -u
SIZE=${SIZE:-8G}
T=${T:-4}
make -s -j"$(nproc)" build/vram-swapd build/copybench build/gapbench build/betest >/dev/null || exit 1
cc -O2 -pthread -o build/nbdraw tests/tools/nbdraw.c || exit 1
cc -O2 -pthread -o build/nbdtool tests/tools/nbdtool.c -ldl || exit 1
if [ -f /usr/local/cuda/include/cuda.h ]; then
	gcc -std=c11 -D_GNU_SOURCE -Isrc -I/usr/local/cuda/include -fsyntax-only \
		tests/cuda/apicheck.c && echo "apicheck: src/cuda_api.h matches /usr/local/cuda/include/cuda.h"
fi
# What the report (bench/gpulog.py) reads the run's conditions from. A copy
# of the tree without .git names its commit in VS_COMMIT.
echo "commit: ${VS_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "gpu: $(nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv,noheader | head -n 1)"
echo "cpus: $(nproc)"
echo "== copy ceiling"; build/copybench
echo "== where a sporadic request's time goes"; build/gapbench
echo "== backend alone: 4 GiB scattered write + verify, 8 threads"; build/betest -s 4G -t 8 -T 2

D=build/vram-swapd
RUN=$(mktemp -d); chmod 700 "$RUN"; S=$RUN/s
echo "== fault: bad device index"; $D --device 7 --socket "$S" --status-file ""; echo "exit $?"
echo "== fault: more than the VRAM, back-off by 32G"
$D --size 300G --step 32G --socket "$S" --status-file "" & P=$!
for _ in $(seq 300); do [ -S "$S" ] && break; sleep 0.2; done; kill $P; wait $P; echo "exit $?"
echo "== fault: --min-size above what the chunks at start add up to"
$D --size 300G --step 100G --min-size 250G --socket "$S" --status-file ""; echo "exit $?"

for be in cuda host; do
	echo "######## --backend $be --size $SIZE"
	$D --backend "$be" --size "$SIZE" --socket "$S" --status-file "" > "$RUN/log" 2>&1 & P=$!
	for _ in $(seq 300); do [ -S "$S" ] && break; sleep 0.1; done
	echo "== integrity (nbdtool): whole export filled, 10 s mixed load, read back, 8 connections"
	build/nbdtool -s "$S" -c 8 -q 16 -b 65536 -t 10 -V -w 50
	echo "== 4K QD1 read";   build/nbdraw -s "$S" -c 1 -q 1 -t "$T"
	echo "== 4K QD1 write";  build/nbdraw -s "$S" -c 1 -q 1 -t "$T" -w 100
	echo "== 4K 8x32 read";  build/nbdraw -s "$S" -c 8 -q 32 -t "$T"
	echo "== 4K 8x32 write"; build/nbdraw -s "$S" -c 8 -q 32 -t "$T" -w 100
	echo "== 4K 1x32 read";  build/nbdraw -s "$S" -c 1 -q 32 -t "$T"
	echo "== 4K 1x32 write"; build/nbdraw -s "$S" -c 1 -q 32 -t "$T" -w 100
	echo "== 1M seq read";   build/nbdraw -s "$S" -c 4 -q 4 -b 1048576 -S -t "$T"
	echo "== 1M seq write";  build/nbdraw -s "$S" -c 4 -q 4 -b 1048576 -S -t "$T" -w 100
	echo "== integrity row"; build/nbdraw -s "$S" -c 4 -q 8 -t "$T" -V -z 1073741824
	kill $P; wait $P; echo "daemon exit $?"; grep -v "client \(dis\)\?connected" "$RUN/log"
done

echo "######## sporadic 4K rows, --backend cuda and --backend host side by side"
for be in cuda host; do
	$D --backend "$be" --size "$SIZE" --socket "$RUN/$be" --status-file "" > "$RUN/$be.log" 2>&1 &
	eval "P_$be=\$!"
	for _ in $(seq 300); do [ -S "$RUN/$be" ] && break; sleep 0.1; done
	build/nbdraw -s "$RUN/$be" -c 4 -q 4 -b 1048576 -S -t 2 -w 100 > /dev/null   # prefill
done
for gap in 1000 20000 200000; do
	t=$((gap < 20000 ? T : gap < 200000 ? 6 : 12))
	for w in 0 100; do
		[ "$gap" = 1000 ] && [ "$w" = 100 ] && continue
		for be in cuda host; do
			echo "== 4K $([ $w = 0 ] && echo read || echo write), one every $((gap / 1000)) ms, $be"
			build/nbdraw -s "$RUN/$be" -c 1 -q 1 -t "$t" -i "$gap" -w "$w"
		done
	done
done
kill "$P_cuda" "$P_host"; wait
rm -rf "$RUN"
