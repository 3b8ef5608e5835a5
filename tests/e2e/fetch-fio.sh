#!/bin/bash
# Builds a static fio for the end-to-end guest from Debian's own source
# package and prints its path.
#
#   fetch-fio.sh CACHEDIR
#
# Debian's fio binary loads some sixty libraries (RADOS, gluster, RDMA,
# gtk among them), far more than a guest that lives in RAM can hold; built
# static without those engines it is one 3 MiB file that needs nothing.
# The source comes from apt (`apt-get source` against the machine's own
# mirrors and keys, turned to deb-src in a private list directory, so the
# machine's apt state is left alone): apt checks the .dsc against the
# mirror's signed index, and dpkg-source the tarballs against the .dsc. The binary is kept in CACHEDIR; a rerun uses it, offline.
# io_uring and psync are built in; no library engine is wanted.
set -euo pipefail

die() { echo "fetch-fio: $*" >&2; exit 1; }

cache=${1:?usage: fetch-fio.sh CACHEDIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

have=$(find "$cache" -maxdepth 2 -path "$cache/fio-*/fio" -type f | sort -V | tail -n 1)
if [ -n "$have" ]; then
	echo "$have"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt drops to its _apt user for downloads: let it write where it fetches.
mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/src"
: >"$tmp/sources.list"
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
	sed 's/^Types:.*/Types: deb-src/' "$f" >"$tmp/parts/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -e "$f" ] && sed -n 's/^deb[[:space:]]/deb-src /p' "$f" >>"$tmp/sources.list"
done
shopt -u nullglob
chmod -R 0777 "$tmp"
apt=(apt-get -q -o "Dir::Etc::SourceList=$tmp/sources.list"
	-o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists"
	-o "Dir::Cache=$tmp/cache")
"${apt[@]}" update -qq >&2 || die "apt-get update of the deb-src lists failed"
ver=$("${apt[@]}" source --print-uris fio 2>/dev/null |
	sed -n "s/.* fio_\([^ ]*\)\.dsc .*/\1/p" | head -n 1)
[ -n "$ver" ] || die "apt knows no source package fio"
dir=$cache/fio-$ver
if [ -x "$dir/fio" ]; then
	echo "$dir/fio"
	exit 0
fi
echo "fetch-fio: building fio $ver from Debian's source into $dir" >&2
(cd "$tmp/src" && "${apt[@]}" source --download-only fio >&2) ||
	die "apt-get source fio failed"
# The maintainer's own signature on the .dsc needs keys this machine
# lacks; the index's signature above is what vouches for it.
dpkg-source -x "$tmp/src/fio_$ver.dsc" "$tmp/fio" >"$tmp/unpack.log" 2>&1 ||
	{ cat "$tmp/unpack.log" >&2; die "dpkg-source could not check or unpack fio_$ver.dsc"; }
(
	cd "$tmp/fio"
	./configure --build-static --disable-native --disable-numa --disable-rdma \
		--disable-rados --disable-rbd --disable-http --disable-gfapi \
		--disable-libnfs --disable-pmem --disable-xnvme --disable-libzbc \
		--disable-tcmalloc --disable-dfs --disable-lex >configure.log 2>&1 ||
		{ tail -n 20 configure.log >&2; exit 1; }
	make -j"$(nproc)" fio >make.log 2>&1 || { tail -n 20 make.log >&2; exit 1; }
) || die "building fio $ver failed (see above)"
ldd "$tmp/fio/fio" >/dev/null 2>&1 && die "the fio built is not static"
mkdir -p "$dir"
strip -o "$dir/fio.tmp" "$tmp/fio/fio"
mv "$dir/fio.tmp" "$dir/fio"
echo "$dir/fio"
