#!/bin/bash
# Entry point of the GPU bundle (tests/e2e/gpu-bundle.sh): builds vram-swapd
# from the bundled sources, runs it here on --backend cuda, and boots the
# bundled qemu guest, which swaps into it through qemu's user network
# (tests/e2e/run.sh --remote). Exit status and verdict are run.sh's.
#
# Environment: E2E_BACKEND (cuda), E2E_SIZE (2G), E2E_ARGS (more daemon
# flags, such as --compress lz4), E2E_MEM (384), E2E_SMP (4),
# E2E_EXTRA (256), E2E_FIO (10), E2E_TIMEOUT (450), E2E_OUT (a directory for the
# console and daemon logs; default: the bundle's e2e/).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1

daemon=$here/vram-swapd
if command -v "${CC:-gcc}" >/dev/null 2>&1; then
	version=$(cat src/VERSION)
	# shellcheck disable=SC2046
	"${CC:-gcc}" -std=c11 -O2 -g -D_GNU_SOURCE -DVS_VERSION="\"$version\"" -Isrc/src \
		-o "$daemon" $(ls src/src/*.c) -pthread -ldl ||
		{ echo "gpu-e2e: FAIL: building vram-swapd failed"; exit 1; }
	echo "gpu-e2e: built vram-swapd $version with $("${CC:-gcc}" --version | head -n 1)"
else
	cp vram-swapd.prebuilt "$daemon" || { echo "gpu-e2e: FAIL: no compiler and no prebuilt daemon"; exit 1; }
	echo "gpu-e2e: no compiler here; using the daemon built with the bundle"
fi

echo "gpu-e2e: $(uname -sr); $(nproc) CPUs; KVM: $([ -w /dev/kvm ] && echo present || echo absent)"
command -v nvidia-smi >/dev/null &&
	nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader

# The bundled compression libraries, for a daemon asked to compress.
export LD_LIBRARY_PATH=$here/codec/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
out=${E2E_OUT:-$here/e2e}
mkdir -p "$out"
start=$(date +%s)
E2E_DIR=$here/e2e QEMU=$here/qemu QEMU_DATADIR=$here/share/qemu \
	E2E_DAEMON=$daemon E2E_BACKEND=${E2E_BACKEND:-cuda} E2E_SIZE=${E2E_SIZE:-2G} \
	E2E_TIMEOUT=${E2E_TIMEOUT:-450} E2E_SMP=${E2E_SMP:-4} E2E_LOG=$out/console.log \
	"$here/e2e/run.sh" --remote
rc=$?
[ -e "$here/e2e/daemon.log" ] && cp "$here/e2e/daemon.log" "$out/daemon.log" 2>/dev/null
echo "gpu-e2e: exit $rc after $(($(date +%s) - start)) s"
exit $rc
