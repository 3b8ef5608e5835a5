# shellcheck shell=bash
# The .deb as built: files and modes, control fields, conffiles, maintainer
# scripts, lintian. Sourced by run.sh (DEB, WORK, HERE set).
section "deb contents: $(basename "$DEB")"

unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
# deb.files lists files; every directory above them must be root's 0755.
files=$(grep -v '^#' "$HERE/deb.files" | sed "s|@UNITDIR@|$unitdir|")
expected=$( { echo "$files"
	awk '{print $3}' <<<"$files" | while read -r f; do
		while f=$(dirname "$f") && [ "$f" != . ]; do echo "drwxr-xr-x root/root $f/"; done
	done
	echo "drwxr-xr-x root/root ./"; } | sort -u)
# dh_compress gzips documents over 4 KiB: README.md may become README.md.gz.
actual=$(dpkg-deb -c "$DEB" | awk '{print $1, $2, $6, $7, $8}' | sed 's/ *$//' |
	sed 's|README\.md\.gz$|README.md|' | sort)
same_text "file list, modes and owners (dpkg-deb -c)" "$expected" "$actual"

field() { dpkg-deb -f "$DEB" "$1"; }
depends=$(field Depends)
check "Depends has nbd-client" has_re "$depends" '(^|, )nbd-client(,|$| )'
check "Depends has kmod" has_re "$depends" '(^|, )kmod(,|$| )'
check "Depends has the shlibs (libc6)" has_re "$depends" '(^|, )libc6 \('
check "Depends has liblz4-1 (loaded for VRAM_SWAP_COMPRESS=lz4)" has_re "$depends" '(^|, )liblz4-1(,|$| )'
check "Depends has libzstd1 (loaded for VRAM_SWAP_COMPRESS=zstd)" has_re "$depends" '(^|, )libzstd1(,|$| )'
check "no dependency on an NVIDIA package" lacks_re "$(field Depends; field Recommends; field Pre-Depends)" 'nvidia|cuda'
check "Architecture is the build's" has_line "$(field Architecture)" "$(dpkg --print-architecture)"

dpkg-deb -e "$DEB" "$WORK/control"
same_text "conffiles is exactly /etc/default/vram-swap" "/etc/default/vram-swap" "$(cat "$WORK/control/conffiles")"

scripts=$(cat "$WORK"/control/{preinst,postinst,prerm,postrm} 2>/dev/null)
check "maintainer scripts never start, restart or stop a unit" \
	lacks_re "$scripts" '(deb-systemd-invoke|systemctl|invoke-rc\.d)[^#]*(start|restart|stop|try-restart|reload-or-restart)'
check "maintainer scripts never touch the GPU" lacks_re "$scripts" 'nvidia|cuda|/dev/nvidia'
check "postinst replaces the daemon only through vram-swap-setup --restart" \
	has_re "$(cat "$WORK/control/postinst")" '^	vram-swap-setup --restart \|\| true$'
check "prerm detaches through vram-swap-teardown on remove" \
	has_re "$(cat "$WORK/control/prerm")" '^	if ! vram-swap-teardown; then'
check "postrm clears /run/vram-swap on purge" \
	has_re "$(cat "$WORK/control/postrm")" 'rm -rf /run/vram-swap'
for s in postinst prerm postrm; do
	check "$s as built is valid sh (sh -n)" sh -n "$WORK/control/$s"
done
check "debian/{postinst,prerm,postrm} are shellcheck clean" \
	shellcheck -s sh "$SRC"/debian/{postinst,prerm,postrm}

if lintian --fail-on error,warning "$DEB" > "$WORK/lintian.log" 2>&1; then
	ok "lintian: no errors or warnings"
else
	fail "lintian:"; sed 's/^/       /' "$WORK/lintian.log"
fi
