# shellcheck shell=bash
# install.sh into a staging root and back out: every file it installs is
# accounted for, an existing defaults file is never overwritten, uninstall
# is refused while vram-swapd runs (a fake /proc via VRAM_SWAP_PROC) and
# otherwise leaves nothing behind. Sourced by run.sh (SRC, WORK set).
section "install.sh"

check "install.sh is shellcheck clean" shellcheck "$SRC/install.sh"
I=$WORK/inst
P=$WORK/proc
mkdir -p "$I" "$P"
run_install() { VRAM_SWAP_PROC=$P "$SRC/install.sh" --destdir "$I" "$@" < /dev/null; }

if run_install > "$WORK/inst1.log" 2>&1; then ok "install.sh: installed under $I"; else fail "install.sh"; tail -20 "$WORK/inst1.log" | sed 's/^/       /'; fi
for f in /usr/local/sbin/vram-swapd /usr/local/sbin/vram-swap-setup \
         /usr/local/lib/vram-swap/vram-swap-lib.sh /usr/local/lib/systemd/system/vram-swap.service \
         /usr/local/share/man/man8/vram-swapd.8 /etc/default/vram-swap; do
	check "installed $f" test -f "$I$f"
done
check "vram-swapd is executable" test -x "$I/usr/local/sbin/vram-swapd"
check "the unit names the installed daemon" grep -q '/usr/local/sbin/' "$I/usr/local/lib/systemd/system/vram-swap.service"
# Everything installed is in the manifest, and the manifest lists nothing else.
listed=$(grep -E '^[fc] ' "$I/usr/local/lib/vram-swap/install-manifest" | cut -d' ' -f2 | sort)
present=$(cd "$I" && find . ! -type d ! -name install-manifest | sed 's/^\.//' | sort)
same_text "manifest lists exactly the installed files" "$present" "$listed"

echo "VRAM_SWAP_SIZE=1G # local" >> "$I/etc/default/vram-swap"
if run_install > "$WORK/inst2.log" 2>&1; then ok "install.sh again (upgrade)"; else fail "install.sh again"; fi
check "existing defaults file not overwritten" grep -q 'local' "$I/etc/default/vram-swap"

mkdir -p "$P/4242"; echo vram-swapd > "$P/4242/comm"
if run_install --uninstall > "$WORK/uninst1.log" 2>&1; then fail "uninstall went ahead while vram-swapd runs"; else ok "uninstall refused while vram-swapd runs"; fi
check "refusal names vram-swap-teardown" grep -q 'vram-swap-teardown' "$WORK/uninst1.log"
check "nothing removed by the refused uninstall" test -x "$I/usr/local/sbin/vram-swapd"
rm -rf "${P:?}/4242"

if run_install --uninstall > "$WORK/uninst2.log" 2>&1; then ok "install.sh --uninstall"; else fail "uninstall"; cat "$WORK/uninst2.log"; fi
check "locally changed defaults file kept" grep -q 'local' "$I/etc/default/vram-swap"
rm -f "$I/etc/default/vram-swap"; rmdir "$I/etc/default" "$I/etc"

# A fresh install and uninstall, nothing changed: nothing at all is left.
run_install > "$WORK/inst3.log" 2>&1 && run_install --uninstall > "$WORK/uninst3.log" 2>&1
same_text "install + uninstall leave no file or directory behind" "" "$(cd "$I" && find . -mindepth 1)"

out=$(VRAM_SWAP_PROC=$P "$SRC/install.sh" --check --destdir "$I" 2>&1) || true
check "--check reports and changes nothing" test -z "$(cd "$I" && find . -mindepth 1)"
check "--check says whether it is installed" has_re "$out" 'not installed under /usr/local'

# make install / make uninstall (what the packages use) with DESTDIR.
M=$WORK/mkinst
make -C "$SRC" -s install DESTDIR="$M" PREFIX=/usr > "$WORK/mkinst.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr installs the daemon" test -x "$M/usr/sbin/vram-swapd"
check "make install installs vram-swapd(8)" test -f "$M/usr/share/man/man8/vram-swapd.8"
make -C "$SRC" -s uninstall DESTDIR="$M" PREFIX=/usr > "$WORK/mkuninst.log" 2>&1
same_text "make uninstall removes every file make install put in place" "" "$(cd "$M" && find . ! -type d)"
same_text "make uninstall removes its own directories" "" \
	"$(cd "$M" && find . -type d \( -name 'vram-swap*' -o -name sleep.target.requires -o -name '*.service.wants' \))"
