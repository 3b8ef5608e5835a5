# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The settings of /etc/default/vram-swap, as the daemon validates them:
# `vram-swapd --check-config` is the one gate (and the one table of
# defaults) for every key, including those only the scripts use.

declare -A VS_CONF=()

# Reads and validates the defaults file into VS_CONF (absent keys take the
# daemon's defaults). Any problem is reported with file, line, key and
# value, and is fatal.
vs_load_defaults() {
	local file=$VS_DEFAULTS daemon out rc key val
	daemon=$(vs_find_daemon) || exit 1
	local args=(--check-config)
	if [[ ! -e $file ]]; then
		vs_warn "$file does not exist; using the built-in defaults"
	else
		[[ -r $file ]] || vs_die "cannot read $file"
		args+=("$file")
	fi
	# Success prints only KEY=value lines; failure only messages.
	out=$("$daemon" "${args[@]}" 2>&1)
	rc=$?
	if ((rc != 0)); then
		while IFS= read -r val; do
			vs_err "${val#vram-swapd: }"
		done <<<"$out"
		((rc == 2)) || vs_die "$daemon --check-config failed (status $rc)"
		vs_die "fix $file and run $VS_PROG again; nothing was changed"
	fi
	VS_CONF=()
	while IFS='=' read -r key val; do
		[[ -n $key ]] && VS_CONF[$key]=$val
	done <<<"$out"
	# The packaged default names /run; tests move /run elsewhere.
	if [[ ${VS_CONF[VRAM_SWAP_SOCKET]} == /run/* && $VS_RUN != /run ]]; then
		VS_CONF[VRAM_SWAP_SOCKET]=$VS_RUN/${VS_CONF[VRAM_SWAP_SOCKET]#/run/}
	fi
}

# Every setting into the environment, where the daemon reads each
# VRAM_SWAP_* it knows (as it does under the unit's EnvironmentFile=): no
# setting needs a flag of its own, and one the daemon gains reaches it
# without a change here. For the daemon's own subshell only.
vs_export_settings() {
	local k
	for k in "${!VS_CONF[@]}"; do
		export "$k=${VS_CONF[$k]}"
	done
}
