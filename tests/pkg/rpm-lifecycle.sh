# shellcheck shell=bash
# The .rpm's scriptlets, run by rpm in a throwaway root (see chroot.sh):
# install, reinstall over itself, erase (refused, then done). As for the
# .deb, a fake /proc entry stands for a running daemon and a recording stub
# for vram-swap-teardown. This rpm was built on Debian, so its scriptlets
# hold the spec's fallbacks for the systemd macros, not Fedora's macros
# (rpm-contents.sh checks that a Fedora build uses those).
# Sourced by run.sh (RPM, WORK set).
section "rpm scriptlets in a throwaway root (rpm --root)"

R=$WORK/rroot
make_root "$R"
mark
RQ() { rpm --root="$R" --dbpath=/var/lib/rpm "$@"; }
# --nodeps: the root's rpm database knows no other package.
RP() { RQ --nodeps --nosignature "$@"; }
rpm_installed() { RQ -q vram-swap > /dev/null 2>&1; }
RQ --initdb

if RP -i "$RPM" > "$WORK/rinstall.log" 2>&1; then ok "rpm -i: installed"; else fail "rpm -i"; sed 's/^/       /' "$WORK/rinstall.log"; fi
check "unit installed" test -f "$R/usr/lib/systemd/system/vram-swap.service"
check "unit not enabled (no .wants symlink)" test -z "$(find "$R/etc/systemd" -name 'vram-swap*' 2>/dev/null)"
check "install started, stopped or enabled nothing" lacks_re "$(calls)" 'systemctl.*(start|stop|enable|--now)'
check "install reloaded systemd" has_line "$(calls)" "systemctl daemon-reload"

echo "# local edit" >> "$R/etc/default/vram-swap"
fake_daemon
mark
if RP -U --replacepkgs "$RPM" > "$WORK/rupgrade.log" 2>&1; then ok "rpm -U --replacepkgs: reinstalled"; else fail "rpm -U"; sed 's/^/       /' "$WORK/rupgrade.log"; fi
check "upgrade without a tier set up ran no vram-swap-setup" lacks_re "$(cat "$WORK/rupgrade.log")" 'vram-swap-setup'
check "upgrade kept the local edit (%config(noreplace))" grep -qx '# local edit' "$R/etc/default/vram-swap"
check "upgrade neither stopped nor restarted anything" lacks_re "$(calls)" 'systemctl.*(start|stop|restart|--now)|vram-swap-teardown'
check "upgrade reloaded systemd" has_line "$(calls)" "systemctl daemon-reload"

tier_record
mark
if RP -U --replacepkgs "$RPM" > "$WORK/rupgrade2.log" 2>&1; then ok "rpm -U with a tier set up: reinstalled"; else fail "rpm -U with a tier"; sed 's/^/       /' "$WORK/rupgrade2.log"; fi
check "upgrade with a tier neither stopped nor restarted a unit itself" lacks_re "$(calls)" 'systemctl.*(start|stop|restart|--now)|vram-swap-teardown'
check "upgrade with a tier says why the old daemon stays" \
	has_re "$(cat "$WORK/rupgrade2.log")" "cannot restart vram-swapd in place: its pages cannot outlive it \\(GPU 0 cannot export its memory as a file descriptor\\); the installed version runs after vram-swap-teardown && vram-swap-setup"
rm -rf "$R/run/vram-swap"

teardown_stub 1
mark
if RP -e vram-swap > "$WORK/rerase1.log" 2>&1; then fail "rpm -e succeeded although teardown failed"; else ok "rpm -e refused while teardown fails"; fi
check "refusal says why and what to do" has_re "$(cat "$WORK/rerase1.log")" 'NOT removed'
check "package still installed after refusal" rpm_installed
check "binaries still present after refusal" test -x "$R/usr/sbin/vram-swapd"

teardown_stub 0
mark
mkdir -p "$R/run/vram-swap"
if RP -e vram-swap > "$WORK/rerase2.log" 2>&1; then ok "rpm -e: erased after teardown"; else fail "rpm -e"; sed 's/^/       /' "$WORK/rerase2.log"; fi
check "teardown ran first" test "$(calls | head -n1)" = "vram-swap-teardown "
check "erase reloaded systemd after the unit files went" test "$(calls | tail -n 1)" = "systemctl daemon-reload"
check "package gone" test "$(rpm_installed && echo yes)" != yes
check "the rpm database works (it lists nothing)" test -z "$(RQ -qa)"
check "changed settings kept as .rpmsave" grep -qx '# local edit' "$R/etc/default/vram-swap.rpmsave"
check "/run/vram-swap gone on erase" test ! -e "$R/run/vram-swap"
check "no other vram-swap file left" \
	test -z "$(find "$R" -path "$R/proc" -prune -o -name '*vram-swap*' ! -name '*.rpmsave' -print)"
check "nothing touched a GPU (no nvidia tool, no libcuda load, no modprobe)" \
	lacks_re "$(cat "$R/calls.log" "$WORK"/r{install,upgrade,erase1,erase2}.log)" 'nvidia|libcuda|^modprobe'
