#!/usr/bin/env bats
# The units, the install targets and the man pages.

load helpers

setup() {
	T=$BATS_TEST_TMPDIR
}

# Installs into real paths under $T (no DESTDIR), so that the units name
# programs that exist, as systemd-analyze verify demands.
install_here() {
	make -s -C "$REPO" install-scripts install-systemd DESTDIR= \
		SBINDIR="$T/sbin" LIBEXECDIR="$T/libexec" SYSCONFDIR="$T/etc" \
		UNITDIR="$T/units" >/dev/null
}

@test "systemd: systemd-analyze verify passes on the four units" {
	install_here
	# The daemon comes from install-daemon; a stand-in will do for verify.
	printf '#!/bin/sh\n' >"$T/sbin/vram-swapd"
	chmod +x "$T/sbin/vram-swapd"
	# Documentation= is checked too: the man pages must be found.
	mkdir -p "$T/man/man8"
	cp "$REPO"/man/*.8 "$T/man/man8/"
	MANPATH=$T/man run systemd-analyze verify "$T/units/vram-swap.service" \
		"$T/units/vram-swap-sleep.service" "$T/units/vram-swap-resume.service" \
		"$T/units/vram-swap-watch.service"
	assert_success
	assert_output ""
	# And it does catch a broken unit.
	sed 's/^Type=notify/Type=notifyish/' "$T/units/vram-swap.service" >"$T/units/broken.service"
	MANPATH=$T/man run systemd-analyze verify "$T/units/broken.service"
	assert_output --partial "Failed to parse service type"
}

@test "systemd: the service has the settings swap over a daemon needs" {
	unit=$REPO/systemd/vram-swap.service.in
	for line in Type=notify Restart=no MemorySwapMax=0 \
		LimitMEMLOCK=infinity OOMScoreAdjust=-1000 \
		KillMode=process SendSIGKILL=no NotifyAccess=all RuntimeDirectory=vram-swap \
		RuntimeDirectoryMode=0700 Wants=modprobe@nbd.service \
		EnvironmentFile=-@SYSCONFDIR@/default/vram-swap \
		"ExecStart=@@LIBEXECDIR@/vram-swap-holder @vram-swap-holder --argv0 @vram-swapd -- @SBINDIR@/vram-swapd --status-file /run/vram-swap/status" \
		"ExecStartPre=+@SBINDIR@/vram-swap-setup --check" \
		"ExecStartPost=+@SBINDIR@/vram-swap-setup --attach" \
		"ExecReload=+@SBINDIR@/vram-swap-setup --restart" \
		"ExecStop=+@SBINDIR@/vram-swap-teardown --keep-daemon"; do
		grep -qxF -- "$line" "$unit" || fail "missing: $line"
	done
	grep -q '^After=.*modprobe@nbd.service' "$unit"
	run grep -E '^(PrivateDevices|ProtectClock|ProtectKernelLogs|ProtectKernelModules|MemoryDenyWriteExecute|DeviceAllow)=' "$unit"
	assert_failure
	# Nothing that gives the unit a mount namespace: its swapon would be
	# listed under a path the host cannot resolve.
	run grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ProtectControlGroups|ProtectHostname|ProtectKernelTunables|ProtectProc|ProcSubset|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|ExecPaths|NoExecPaths|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|RootDirectory|RootImage|MountAPIVFS|PrivateUsers|DynamicUser)=' "$unit"
	assert_failure
}

@test "systemd: the sleep unit runs before sleep and the GPU's suspend, and can fail it" {
	unit=$REPO/systemd/vram-swap-sleep.service.in
	for line in Type=oneshot "ExecStart=@SBINDIR@/vram-swap-teardown --sleep" \
		ConditionPathExists=/run/vram-swap/setup.state; do
		grep -qxF -- "$line" "$unit" || fail "missing: $line"
	done
	grep -qE '^Before=.*sleep\.target' "$unit"
	grep -qE '^Before=.*nvidia-suspend\.service' "$unit"
	grep -qE '^Before=.*nvidia-hibernate\.service' "$unit"
	install_here
	# sleep.target requires it, so its failure fails the sleep job.
	assert_link_exists "$T/units/sleep.target.requires/vram-swap-sleep.service"
	assert_equal "$(readlink "$T/units/sleep.target.requires/vram-swap-sleep.service")" \
		../vram-swap-sleep.service
}

@test "systemd: the resume unit runs after every kind of sleep and the GPU's resume" {
	unit=$REPO/systemd/vram-swap-resume.service.in
	grep -qxF "ExecStart=@SBINDIR@/vram-swap-setup --resume" "$unit"
	grep -qE '^After=.*nvidia-resume\.service' "$unit"
	install_here
	for s in systemd-suspend systemd-hibernate systemd-hybrid-sleep systemd-suspend-then-hibernate; do
		grep -qE "^After=.*$s\.service" "$unit" || fail "not after $s"
		assert_equal "$(readlink "$T/units/$s.service.wants/vram-swap-resume.service")" \
			../vram-swap-resume.service
	done
}

@test "systemd: each sleep transaction pulls in both sleep units, without ordering cycles" {
	install_here
	printf '#!/bin/sh\n' >"$T/sbin/vram-swapd"
	chmod +x "$T/sbin/vram-swapd"
	# Our units next to the system's (the trailing colon keeps the defaults);
	# the debug log lists the jobs that starting the sleep service installs.
	for s in systemd-suspend systemd-hibernate systemd-hybrid-sleep \
		systemd-suspend-then-hibernate; do
		SYSTEMD_UNIT_PATH=$T/units: SYSTEMD_LOG_LEVEL=debug run \
			systemd-analyze --man=no verify "$s.service"
		assert_success
		assert_line --partial "vram-swap-sleep.service: Installed new job vram-swap-sleep.service/start"
		assert_line --partial "vram-swap-resume.service: Installed new job vram-swap-resume.service/start"
		refute_output --partial "ordering cycle"
	done
	SYSTEMD_UNIT_PATH=$T/units: SYSTEMD_LOG_LEVEL=debug run \
		systemd-analyze --man=no verify vram-swap.service
	assert_success
	assert_line --partial "modprobe@nbd.service: Installed new job modprobe@nbd.service/start"
	refute_output --partial "ordering cycle"
}

@test "install: DESTDIR, paths substituted, library found from the installed layout" {
	d=$T/dest
	make -s -C "$REPO" install-scripts install-systemd DESTDIR="$d" PREFIX=/usr >/dev/null
	for f in usr/sbin/vram-swap-setup usr/sbin/vram-swap-teardown usr/sbin/vram-swap-status; do
		assert_file_executable "$d/$f"
	done
	assert_file_exists "$d/usr/lib/vram-swap/vram-swap-lib.sh"
	for f in "$REPO"/scripts/lib/*.sh; do
		assert_file_exists "$d/usr/lib/vram-swap/lib/${f##*/}"
	done
	assert_file_executable "$d/usr/lib/vram-swap/vram-swap-excl"
	assert_file_exists "$d/usr/lib/systemd/system/vram-swap.service"
	assert_file_exists "$d/usr/lib/systemd/system/vram-swap-sleep.service"
	assert_file_exists "$d/usr/lib/systemd/system/vram-swap-resume.service"
	assert_file_exists "$d/etc/default/vram-swap"
	run grep -rlI '@[A-Z]*@' "$d"
	assert_failure
	run grep -h '^Exec' "$d/usr/lib/systemd/system/vram-swap.service"
	assert_line "ExecStart=@/usr/lib/vram-swap/vram-swap-holder @vram-swap-holder --argv0 @vram-swapd -- /usr/sbin/vram-swapd --status-file /run/vram-swap/status"
	assert_line "ExecStartPre=+/usr/sbin/vram-swap-setup --check"
	grep -qx 'EnvironmentFile=-/etc/default/vram-swap' "$d/usr/lib/systemd/system/vram-swap.service"
	# From $d/usr/sbin the library is found in ../lib/vram-swap/.
	run "$d/usr/sbin/vram-swap-status" --help
	assert_success
	assert_output --partial "Usage: vram-swap-status"
	# Without it, the error says so.
	mv "$d/usr/lib/vram-swap" "$d/usr/lib/elsewhere"
	run "$d/usr/sbin/vram-swap-status" --help
	assert_failure 1
	assert_output --partial "cannot find the helper library vram-swap-lib.sh"
	VRAM_SWAP_LIB=$d/usr/lib/elsewhere/vram-swap-lib.sh run "$d/usr/sbin/vram-swap-teardown" --help
	assert_success
	# The loader finds its parts next to itself, and names one that is gone.
	rm "$d/usr/lib/elsewhere/lib/chunks.sh"
	VRAM_SWAP_LIB=$d/usr/lib/elsewhere/vram-swap-lib.sh run "$d/usr/sbin/vram-swap-teardown" --help
	assert_failure 1
	assert_output --partial "$d/usr/lib/elsewhere/lib/chunks.sh is missing; reinstall vram-swap"
}

@test "install: LIBEXECDIR and SYSCONFDIR off the usual layout are compiled in" {
	make -s -C "$REPO" install-scripts DESTDIR= SBINDIR="$T/bin" \
		LIBEXECDIR="$T/odd/place" SYSCONFDIR="$T/conf" >/dev/null
	run "$T/bin/vram-swap-setup" --help
	assert_success
	assert_output --partial "as configured in $T/conf/default/vram-swap"
}

@test "install: an existing /etc/default/vram-swap is kept" {
	d=$T/dest
	mkdir -p "$d/etc/default"
	echo VRAM_SWAP_SIZE=3G >"$d/etc/default/vram-swap"
	run make -s -C "$REPO" install-systemd DESTDIR="$d" PREFIX=/usr
	assert_success
	assert_output --partial "keeping existing $d/etc/default/vram-swap"
	assert_equal "$(cat "$d/etc/default/vram-swap")" VRAM_SWAP_SIZE=3G
}

@test "man: the script pages format without warnings" {
	for p in vram-swap-setup vram-swap-teardown vram-swap-status vram-swap-resize vram-swap-yield; do
		run bash -c "LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l '$REPO/man/$p.8' 2>&1 >/dev/null"
		assert_output ""
		run bash -c "LC_ALL=C.UTF-8 MANWIDTH=80 man -l '$REPO/man/$p.8' | col -b"
		assert_output --partial "$p"
		assert_output --partial "EXIT STATUS"
	done
}
