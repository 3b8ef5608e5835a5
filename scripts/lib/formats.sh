# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The one parser of the key/value texts the scripts read: the daemon's
# status file, its control replies and setup's record. docs/shell.md
# ("Formats") describes each; tests/bats/formats.bats holds that
# description to what the daemon and the scripts really write. Every
# reader asks for a field by its name, never by its position.

# The status file's per-chunk and per-GPU lines carry several values, in
# this order; the last one takes the rest of the line (a GPU's name has
# spaces). vs_kv_read names them KEY.FIELD: chunk.0.used, gpu.1.free.
# shellcheck disable=SC2034 # passed to vs_kv_read by name
declare -A VS_NO_FIELDS=() VS_STATUS_FIELDS=(
	[chunk]="gpu size used stored same clients compr export name"
	[gpu]="free total ours reserve chunks target name"
)

# vs_kv_read FILE ARRAY [FIELDS]: the KEY=value lines of FILE into the
# associative array ARRAY (emptied first). Counters may share a line
# ("reads=1 writes=2"). With FIELDS (an array such as VS_STATUS_FIELDS),
# a KIND.N key whose KIND it names has its values split into KIND.N.FIELD
# as well. Fails when FILE cannot be read.
vs_kv_read() {
	local -n _kv=$2
	local -n _fields=${3:-VS_NO_FIELDS}
	local _line _k _v _p _kind _names _rest _i
	_kv=()
	[[ -r $1 ]] || return 1
	while IFS= read -r _line; do
		[[ $_line == *=* ]] || continue
		if [[ $_line =~ ^[a-z_]+=[0-9]+([[:space:]]+[a-z_]+=[0-9]+)+$ ]]; then
			for _p in $_line; do _kv[${_p%%=*}]=${_p#*=}; done
			continue
		fi
		_k=${_line%%=*} _v=${_line#*=}
		_kv["$_k"]=$_v
		[[ $_k =~ ^([a-z]+)\.[0-9]+$ ]] || continue
		_kind=${BASH_REMATCH[1]}
		[[ -n ${_fields[$_kind]:-} ]] || continue
		read -r -a _names <<<"${_fields[$_kind]}"
		_rest=$_v
		for ((_i = 0; _i < ${#_names[@]} - 1; _i++)); do
			read -r _p _rest <<<"$_rest"
			_kv[$_k.${_names[_i]}]=$_p
		done
		_kv[$_k.${_names[_i]}]=$_rest
	done <"$1"
	return 0
}

# vs_ctl_parse ARRAY: a control reply (stdin) into the associative array
# ARRAY. A reply line is "KIND ID KEY VALUE KEY VALUE ..." ("chunk 3 gpu 0
# size 1073741824 ..."; for "target" the ID is the generation); the value
# of "name" is the rest of the line. ARRAY[KIND] lists the IDs in the
# order given, ARRAY[KIND.ID.KEY] holds each value. "ok" and "error:"
# lines carry no record.
vs_ctl_parse() {
	local -n _r=$1
	local _kind _id _rest _key _val
	_r=()
	while read -r _kind _id _rest; do
		[[ -n $_id && $_kind != ok && $_kind != error: ]] || continue
		_r["$_kind"]+="${_r["$_kind"]:+ }$_id"
		while [[ -n $_rest ]]; do
			read -r _key _rest <<<"$_rest"
			if [[ $_key == name ]]; then
				_val=$_rest _rest=""
			else
				read -r _val _rest <<<"$_rest"
			fi
			_r[$_kind.$_id.$_key]=$_val
		done
	done
}

# vs_kv_write FILE ARRAY: ARRAY as sorted KEY=value lines, through a
# temporary file and a rename, so that a crash never leaves half of it.
vs_kv_write() {
	local -n _w=$2
	local tmp=$1.tmp.$$ k
	{
		for k in $(printf '%s\n' "${!_w[@]}" | sort); do
			printf '%s=%s\n' "$k" "${_w[$k]}"
		done
	} >"$tmp" || vs_die "cannot write $tmp"
	mv -f "$tmp" "$1" || vs_die "cannot write $1"
}
