# shellcheck shell=bash
# The .rpm as built: files and modes, config files, requirements,
# scriptlets, rpmlint, and how the spec parses with Fedora's systemd macros.
# Sourced by run.sh (RPM, SRC, WORK, HERE set).
section "rpm contents: $(basename "$RPM")"

q() { rpm -qp --nosignature "$@" "$RPM"; }
actual=$(q --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' |
	grep -v ' /usr/lib/\.build-id' | sed 's|README\.md\.gz$|README.md|' | sort)
same_text "file list, modes and owners (rpm -qpl)" "$(grep -v "^#" "$HERE/rpm.files" | sort)" "$actual"
same_text "config files (rpm -qpc)" "/etc/default/vram-swap" "$(q -c)"
check "/etc/default/vram-swap is %config(noreplace)" \
	has_line "$(q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]')" "cn /etc/default/vram-swap"

requires=$(q --requires)
check "Requires nbd" has_line "$requires" nbd
check "Requires kmod" has_line "$requires" kmod
check "Requires liblz4 (loaded for VRAM_SWAP_COMPRESS=lz4)" has_line "$requires" "liblz4.so.1()(64bit)"
check "Requires libzstd (loaded for VRAM_SWAP_COMPRESS=zstd)" has_line "$requires" "libzstd.so.1()(64bit)"
check "no requirement on an NVIDIA package" lacks_re "$requires" 'nvidia|cuda'

scripts=$(q --scripts)
check "scriptlets never start or restart the unit" lacks_re "$scripts" '(systemctl[^#]*(start|restart))|try-restart'
check "scriptlets never touch the GPU" lacks_re "$scripts" 'nvidia|cuda|/dev/nvidia'
check "%preun detaches through vram-swap-teardown on erase" has_re "$scripts" 'if ! /usr/sbin/vram-swap-teardown; then'
check "%post replaces the daemon only through vram-swap-setup --restart" has_re "$scripts" "^    /usr/sbin/vram-swap-setup --restart \|\| :$"
check "%postun clears /run/vram-swap on erase" has_re "$scripts" 'rm -rf /run/vram-swap'
# One scriptlet of `rpm -qp --scripts`, by its header word.
scriptlet() { awk -v w="$1" '/^[a-z]+ scriptlet/ { on = ($1 == w) } on' <<<"$scripts"; }
# Built here without Fedora's macros: the fallbacks, which reload systemd
# where it runs (on Fedora its file triggers do).
for s in postinstall postuninstall; do
	check "$s scriptlet: systemctl daemon-reload, where systemd runs" \
		has_re "$(scriptlet $s | tr '\n' ' ')" 'if \[ -d /run/systemd/system \]; then +systemctl daemon-reload'
done

if rpmlint -c "$SRC/rpm/rpmlint.toml" "$RPM" "$SRC/rpm/vram-swap.spec" > "$WORK/rpmlint.log" 2>&1 &&
   ! grep -qE ': [EW]: ' "$WORK/rpmlint.log"; then
	ok "rpmlint: no errors or warnings (filters explained in rpm/rpmlint.toml)"
else
	fail "rpmlint:"; sed 's/^/       /' "$WORK/rpmlint.log"
fi

# The same spec on Fedora: the guarded macros must be the ones used.
fedora=$(rpmspec -P --load "$HERE/fedora-systemd.macros" "$SRC/rpm/vram-swap.spec" 2>&1)
check "with Fedora's macros: %systemd_post/_preun/_postun used" has_re "$fedora" 'FEDORA_SYSTEMD_POST vram-swap.service'
check "with Fedora's macros: %systemd_preun used" has_re "$fedora" 'FEDORA_SYSTEMD_PREUN vram-swap.service'
check "with Fedora's macros: %systemd_postun (no restart) used" has_re "$fedora" 'FEDORA_SYSTEMD_POSTUN vram-swap.service'
check "with Fedora's macros: never _with_restart, no fallback systemctl" \
	lacks_re "$fedora" 'WITH_RESTART|systemctl --no-reload'
# Fedora reloads systemd after the transaction; an in-place restart during
# it must read the new unit first.
check "with Fedora's macros: the one daemon-reload is the in-place restart's" \
	test "$(grep -c 'systemctl daemon-reload' <<<"$fedora") $(grep -A2 'systemctl daemon-reload' <<<"$fedora" | grep -c 'vram-swap-setup --restart')" = "1 1"
