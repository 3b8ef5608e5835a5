#!/bin/bash
# Packs the GPU variant of the end-to-end test into one archive for a
# machine with a GPU but no package registry and no systemd (Ubuntu 24.04
# on the test machines): Debian's qemu with every library it loads (glibc
# and its loader too, so the host's own versions do not matter) and the
# firmware it reads, the kernel and initramfs from tests/e2e/build.sh, the
# bridge, the runner, and the daemon's sources to build there with gcc.
#
#   gpu-bundle.sh [OUT.tar.xz]     (default build/e2e/vram-swap-e2e-gpu.tar.xz)
#
# On the GPU machine: tar xf ...; vram-swap-e2e-gpu/gpu-e2e.sh
set -euo pipefail

die() { echo "gpu-bundle: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
e2e=${E2E_BUILD:-build/e2e}
out=${1:-$e2e/vram-swap-e2e-gpu.tar.xz}
qemu=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found"
for f in vmlinuz initrd.gz uds-bridge; do
	[ -s "$e2e/$f" ] || die "$e2e/$f missing: run tests/e2e/build.sh (make e2e-build)"
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
b=$stage/vram-swap-e2e-gpu
mkdir -p "$b/bin" "$b/lib" "$b/share/qemu" "$b/e2e" "$b/src"

cp -L "$qemu" "$b/bin/qemu-system-x86_64"
# Everything the loader maps, the loader itself included.
ldd "$qemu" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
	while read -r lib; do cp -L "$lib" "$b/lib/"; done
[ -e "$b/lib/ld-linux-x86-64.so.2" ] || die "no ld-linux-x86-64.so.2 among qemu's libraries"
# Debian builds TCG as a loadable module; the wrapper points qemu at it.
mkdir -p "$b/lib/qemu"
cp /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so "$b/lib/qemu/" ||
	die "qemu's TCG module accel-tcg-x86_64.so not found"
# SeaBIOS, the option ROM that boots -kernel, the TCG/KVM vapic ROM: all
# that a -nodefaults machine with a ROM-less virtio-net card reads.
for fw in bios-256k.bin linuxboot_dma.bin kvmvapic.bin; do
	f=/usr/share/qemu/$fw
	[ -e "$f" ] || f=/usr/share/seabios/$fw
	[ -e "$f" ] || die "qemu firmware $fw not found"
	cp -L "$f" "$b/share/qemu/$fw"
done
cat >"$b/qemu" <<'EOF'
#!/bin/sh
# Debian's qemu on its own loader and libraries, whatever the host has.
here=$(cd "$(dirname "$0")" && pwd)
export QEMU_MODULE_DIR="$here/lib/qemu"
exec "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib" \
	"$here/bin/qemu-system-x86_64" "$@"
EOF
chmod 0755 "$b/qemu"

cp "$e2e/vmlinuz" "$e2e/initrd.gz" "$e2e/uds-bridge" "$b/e2e/"
cp tests/e2e/run.sh "$b/e2e/run.sh"
cp tests/e2e/gpu-e2e.sh "$b/gpu-e2e.sh"
# The daemon's sources, built there (its own gcc, its own glibc); a
# binary built here rides along for a machine without a compiler.
cp Makefile VERSION "$b/src/"
cp -r src mk "$b/src/"
# The compression libraries the daemon loads, should such a machine lack
# them (it has no package registry).
mkdir -p "$b/codec/lib"
for l in liblz4 libzstd; do
	cp -L "/usr/lib/x86_64-linux-gnu/$l.so.1" "$b/codec/lib/$l.so.1"
done
[ -x build/vram-swapd ] && cp build/vram-swapd "$b/vram-swapd.prebuilt"

tar -C "$stage" -cJf "$out.tmp" vram-swap-e2e-gpu
mv "$out.tmp" "$out"
size=$(du -k "$out" | cut -f1)
[ "$size" -le $((50 * 1024)) ] || die "$out is $size KiB, over the 50 MiB limit"
echo "gpu-bundle: $out ($size KiB)"
