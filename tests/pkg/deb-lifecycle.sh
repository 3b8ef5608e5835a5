# shellcheck shell=bash
# The .deb's maintainer scripts, run by dpkg in a throwaway root (see
# chroot.sh): install, upgrade over itself, remove (refused, then done) and
# purge. A running daemon is simulated by a fake /proc entry in that root
# (the scripts find vram-swapd by /proc/PID/comm); vram-swap-teardown is
# replaced there by a recording stub, since swapoff and nbd-client cannot
# run here (the helper itself is tested in tests/bats).
# Sourced by run.sh (DEB, WORK set).
section "deb maintainer scripts in a throwaway root (dpkg --root)"

R=$WORK/root
make_root "$R"
D() { dpkg --root="$R" "$@"; }
pkg_status() { dpkg-query --root="$R" -W -f='${Status}' vram-swap 2>/dev/null || echo not-installed; }
unit=$(pkg-config --variable=systemdsystemunitdir systemd)/vram-swap.service

# install
mark
if D -i "$DEB" > "$WORK/install.log" 2>&1; then ok "dpkg -i: installed"; else fail "dpkg -i"; sed 's/^/       /' "$WORK/install.log"; fi
same_text "status after install" "install ok installed" "$(pkg_status)"
check "unit installed at $unit" test -f "$R$unit"
check "unit not enabled (no .wants symlink)" test -z "$(find "$R/etc/systemd" -name 'vram-swap*' 2>/dev/null)"
check "conffile installed" test -f "$R/etc/default/vram-swap"
check "install started, stopped or enabled nothing" lacks_re "$(calls)" 'systemctl.*(start|stop|enable)'
check "install printed no upgrade notice" lacks_re "$(cat "$WORK/install.log")" 'new version runs'
check "install reloaded systemd (dh_installsystemd --no-start adds no reload)" has_line "$(calls)" "systemctl --system daemon-reload"

# upgrade over itself, with a local edit and a daemon running
echo "# local edit" >> "$R/etc/default/vram-swap"
fake_daemon
mark
if D -i "$DEB" > "$WORK/upgrade.log" 2>&1; then ok "dpkg -i again: upgraded"; else fail "upgrade"; sed 's/^/       /' "$WORK/upgrade.log"; fi
check "upgrade without a tier set up ran no vram-swap-setup" lacks_re "$(cat "$WORK/upgrade.log")" 'vram-swap-setup'
check "upgrade kept the local edit of the conffile" grep -qx '# local edit' "$R/etc/default/vram-swap"
check "upgrade neither stopped nor restarted anything" lacks_re "$(calls)" 'systemctl.*(start|stop|restart)|vram-swap-teardown'
check "upgrade left the running daemon alone" test -f "$R/proc/4242/comm"
check "upgrade reloaded systemd (the new unit files are the ones used)" has_line "$(calls)" "systemctl --system daemon-reload"

# upgrade with a tier set up: the daemon is replaced in place by
# vram-swap-setup --restart, after the reload so that the new unit runs
# too. The package's own script runs, and refuses a tier that is not
# crash-safe, saying why; the upgrade goes on either way.
tier_record
mark
if D -i "$DEB" > "$WORK/upgrade2.log" 2>&1; then ok "dpkg -i with a tier set up: upgraded"; else fail "upgrade with a tier"; sed 's/^/       /' "$WORK/upgrade2.log"; fi
same_text "upgrade with a tier: the reload, and the refusal touched nothing" \
	"systemctl --system daemon-reload" "$(calls)"
check "upgrade with a tier left the running daemon alone" test -f "$R/proc/4242/comm"
check "upgrade with a tier says why the old daemon stays" \
	has_re "$(cat "$WORK/upgrade2.log")" "cannot restart vram-swapd in place: its pages cannot outlive it \\(GPU 0 cannot export its memory as a file descriptor\\); the installed version runs after vram-swap-teardown && vram-swap-setup"
same_text "status after the upgrade with a tier" "install ok installed" "$(pkg_status)"
rm -rf "$R/run/vram-swap"

# remove while the daemon runs and teardown fails: refused
teardown_stub 1
mark
if D -r vram-swap > "$WORK/remove1.log" 2>&1; then fail "dpkg -r succeeded although teardown failed"; else ok "dpkg -r refused while teardown fails"; fi
check "refusal says why and what to do" has_re "$(cat "$WORK/remove1.log")" 'NOT removed.*|run .vram-swap-teardown.'
check "teardown was tried" has_line "$(calls)" "vram-swap-teardown "
# dpkg records the wish ("deinstall"); the package stays "ok installed".
same_text "package still installed after refusal" "ok installed" "$(pkg_status | cut -d' ' -f2-)"
check "binaries still present after refusal" test -x "$R/usr/sbin/vram-swapd"

# remove while the daemon runs and teardown succeeds: detached, then removed
teardown_stub 0
mark
if D -r vram-swap > "$WORK/remove2.log" 2>&1; then ok "dpkg -r: removed after teardown"; else fail "dpkg -r"; sed 's/^/       /' "$WORK/remove2.log"; fi
check "teardown ran first, before any systemctl call" test "$(calls | head -n1)" = "vram-swap-teardown "
check "remove reloaded systemd after the unit files went" test "$(calls | tail -n 1)" = "systemctl --system daemon-reload"
same_text "status after remove" "deinstall ok config-files" "$(pkg_status)"
check "conffile kept on remove" grep -qx '# local edit' "$R/etc/default/vram-swap"
check "daemon binary gone on remove" test ! -e "$R/usr/sbin/vram-swapd"
check "unit gone on remove" test ! -e "$R$unit"

# purge
mkdir -p "$R/run/vram-swap"; echo state=serving > "$R/run/vram-swap/status"
mark
if D -P vram-swap > "$WORK/purge.log" 2>&1; then ok "dpkg -P: purged"; else fail "dpkg -P"; sed 's/^/       /' "$WORK/purge.log"; fi
same_text "status after purge" "not-installed" "$(pkg_status)"
check "defaults file gone on purge" test ! -e "$R/etc/default/vram-swap"
check "/run/vram-swap gone on purge" test ! -e "$R/run/vram-swap"
check "purge reloaded systemd (the enablement links went)" has_line "$(calls)" "systemctl --system daemon-reload"
check "no vram-swap file left in the root" \
	test -z "$(find "$R" -path "$R/proc" -prune -o -name '*vram-swap*' -print | grep -v 'dpkg/info' )"

check "nothing touched a GPU (no nvidia tool, no libcuda load, no modprobe)" \
	lacks_re "$(cat "$R/calls.log" "$WORK"/{install,upgrade,remove1,remove2,purge}.log)" 'nvidia|libcuda|^modprobe'
