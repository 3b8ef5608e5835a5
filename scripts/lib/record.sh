# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Setup's record of what it did (/run/vram-swap/setup.state), which
# teardown undoes: the tier's settings and every attached chunk as
# chunk.N=/dev/nbdX, all alike. docs/shell.md ("Formats") lists the keys.

declare -A VS_STATE_V=()

vs_state_read() {
	vs_kv_read "$VS_STATE" VS_STATE_V || return 1
	vs_state_upgrade
	return 0
}

# A record written before every chunk was alike named one chunk by keys of
# its own: nbd_device (its device), chunk (its index; absent before there
# were chunks), attached and swap. Read, that chunk is one more chunk.N
# (attached unless attached=0 says otherwise); the next write drops the
# old keys. So a tier set up by the old scripts is torn down by these.
vs_state_upgrade() {
	local dev=${VS_STATE_V[nbd_device]:-} idx=${VS_STATE_V[chunk]:-}
	if [[ -n $dev && ${VS_STATE_V[attached]:-1} != 0 && -z ${VS_STATE_V[chunk.${idx:-0}]:-} ]]; then
		VS_STATE_V[chunk.${idx:-0}]=$dev
	fi
	unset 'VS_STATE_V[nbd_device]' 'VS_STATE_V[chunk]' 'VS_STATE_V[attached]' 'VS_STATE_V[swap]'
}

# vs_state_set KEY=VALUE...: updates the record (temp file + rename, so a
# crash never leaves half a record).
vs_state_set() {
	local kv
	for kv in "$@"; do
		VS_STATE_V[${kv%%=*}]=${kv#*=}
	done
	vs_kv_write "$VS_STATE" VS_STATE_V
}

vs_state_clear() {
	VS_STATE_V=()
	rm -f "$VS_STATE"
}

vs_state_dir() {
	# 0700: the daemon refuses a socket directory others can reach.
	{ mkdir -p "$VS_STATE_DIR" && chmod 0700 "$VS_STATE_DIR"; } ||
		vs_die "cannot create $VS_STATE_DIR"
}

# The device chunk IDX is attached as; nothing if none.
vs_chunk_dev() { echo "${VS_STATE_V[chunk.$1]:-}"; }

# Every attached chunk as "IDX DEV", by index.
vs_attached_chunks() {
	local k
	for k in "${!VS_STATE_V[@]}"; do
		[[ $k =~ ^chunk\.([0-9]+)$ && -n ${VS_STATE_V[$k]} ]] &&
			echo "${BASH_REMATCH[1]} ${VS_STATE_V[$k]}"
	done | sort -n
}

# The attached devices, by chunk index, on one line ("" when none).
vs_attached_devs() {
	local idx dev out=""
	while read -r idx dev; do
		[[ -n $dev ]] && out+=${out:+ }$dev
	done < <(vs_attached_chunks)
	echo "$out"
}

vs_chunk_record() { vs_state_set "chunk.$1=$2"; }

vs_chunk_unrecord() {
	unset "VS_STATE_V[chunk.$1]"
	vs_state_set
}
