#!/usr/bin/env bats
# /etc/default/vram-swap: each bad value is refused with key, value and
# file before anything runs; the shipped file is valid and reads the same
# in sh as in the scripts.

load helpers

setup() {
	vs_env
}

teardown() {
	kill_recorded_daemon
}

# bad LINE MESSAGE: setup refuses a defaults file holding LINE, naming the
# file and line, and calls nothing.
bad() {
	write_defaults "$1"
	run "$SETUP"
	assert_failure 1
	assert_output --partial "$DEFAULTS:2: $2"
	assert_output --partial "fix $DEFAULTS and run vram-swap-setup again; nothing was changed"
	assert_equal "$(calls)" ""
	assert_file_not_exists "$RUNDIR"
	# --check validates the same way.
	run "$SETUP" --check
	assert_failure 1
	assert_output --partial "$DEFAULTS:2: $2"
}

@test "defaults: VRAM_SWAP_SIZE=0" {
	bad VRAM_SWAP_SIZE=0 "VRAM_SWAP_SIZE='0': must be at least 4096 bytes"
}

@test "defaults: VRAM_SWAP_SIZE=101%" {
	bad VRAM_SWAP_SIZE=101% "VRAM_SWAP_SIZE='101%': a percentage must be 1% to 100%"
}

@test "defaults: VRAM_SWAP_SIZE=0%" {
	bad VRAM_SWAP_SIZE=0% "VRAM_SWAP_SIZE='0%': a percentage must be 1% to 100%"
}

@test "defaults: VRAM_SWAP_SIZE=8GB (unknown suffix)" {
	bad VRAM_SWAP_SIZE=8GB "VRAM_SWAP_SIZE='8GB': expected a size such as 8G, 512M, 1048576, or a percentage"
}

@test "defaults: VRAM_SWAP_SIZE too large" {
	bad VRAM_SWAP_SIZE=99999999999T "VRAM_SWAP_SIZE='99999999999T': too large"
}

@test "defaults: VRAM_SWAP_SIZE= (empty)" {
	bad VRAM_SWAP_SIZE= "VRAM_SWAP_SIZE='': empty; comment the line out to use the default (75%)"
}

@test "defaults: VRAM_SWAP_SIZE=1000000 (not a multiple of 4096)" {
	bad VRAM_SWAP_SIZE=1000000 "VRAM_SWAP_SIZE='1000000': must be a multiple of 4096 bytes"
}

@test "defaults: VRAM_SWAP_MIN_SIZE=1.5G" {
	bad VRAM_SWAP_MIN_SIZE=1.5G "VRAM_SWAP_MIN_SIZE='1.5G': expected a size such as 1G, 512M or 1048576"
}

@test "defaults: VRAM_SWAP_MIN_SIZE=50% (no percentage)" {
	bad VRAM_SWAP_MIN_SIZE=50% "VRAM_SWAP_MIN_SIZE='50%': expected a size"
}

@test "defaults: VRAM_SWAP_STEP=-512M" {
	bad VRAM_SWAP_STEP=-512M "VRAM_SWAP_STEP='-512M': expected a size"
}

@test "defaults: VRAM_SWAP_DEVICE=gpu0" {
	bad VRAM_SWAP_DEVICE=gpu0 "VRAM_SWAP_DEVICE='gpu0': expected all, or a GPU index (0), a UUID (GPU-...) or a PCI bus id"
}

@test "defaults: VRAM_SWAP_CHUNK=10M (below 64M)" {
	bad VRAM_SWAP_CHUNK=10M "VRAM_SWAP_CHUNK='10M': expected auto, or a multiple of 2M of at least 64M"
}

@test "defaults: VRAM_SWAP_RESERVE=100%" {
	bad VRAM_SWAP_RESERVE=100% "VRAM_SWAP_RESERVE='100%': a reserve of 100% leaves nothing to use"
}

@test "defaults: VRAM_SWAP_AUTO=yes" {
	bad VRAM_SWAP_AUTO=yes "VRAM_SWAP_AUTO='yes': expected on or off"
}

@test "defaults: VRAM_SWAP_GROW_DELAY=1m" {
	bad VRAM_SWAP_GROW_DELAY=1m "VRAM_SWAP_GROW_DELAY='1m': expected seconds from 0 to 86400"
}

@test "defaults: VRAM_SWAP_ON_BATTERY=off" {
	bad VRAM_SWAP_ON_BATTERY=off "VRAM_SWAP_ON_BATTERY='off': expected keep or release"
}

@test "defaults: VRAM_SWAP_DEVICE=0,,1" {
	bad VRAM_SWAP_DEVICE=0,,1 "VRAM_SWAP_DEVICE='0,,1': expected all, or a GPU index"
}

@test "defaults: VRAM_SWAP_BACKEND=opencl" {
	bad VRAM_SWAP_BACKEND=opencl "VRAM_SWAP_BACKEND='opencl': expected cuda or host"
}

@test "defaults: VRAM_SWAP_PRIORITY=40000" {
	bad VRAM_SWAP_PRIORITY=40000 "VRAM_SWAP_PRIORITY='40000': expected a swap priority from 0 to 32767"
}

@test "defaults: VRAM_SWAP_PRIORITY=high" {
	bad VRAM_SWAP_PRIORITY=high "VRAM_SWAP_PRIORITY='high': expected a swap priority"
}

@test "defaults: VRAM_SWAP_CONNECTIONS=0" {
	bad VRAM_SWAP_CONNECTIONS=0 "VRAM_SWAP_CONNECTIONS='0': expected a number of nbd connections from 1 to 64"
}

@test "defaults: VRAM_SWAP_CONNECTIONS=65" {
	bad VRAM_SWAP_CONNECTIONS=65 "VRAM_SWAP_CONNECTIONS='65': expected a number of nbd connections from 1 to 64"
}

@test "defaults: VRAM_SWAP_NBD_DEVICE=/dev/sda" {
	bad VRAM_SWAP_NBD_DEVICE=/dev/sda "VRAM_SWAP_NBD_DEVICE='/dev/sda': expected auto or an nbd device"
}

@test "defaults: VRAM_SWAP_DISCARD=yes" {
	bad VRAM_SWAP_DISCARD=yes "VRAM_SWAP_DISCARD='yes': expected on or off"
}

@test "defaults: VRAM_SWAP_SOCKET relative" {
	bad VRAM_SWAP_SOCKET=run/vram.sock "VRAM_SWAP_SOCKET='run/vram.sock': expected an absolute path"
}

@test "defaults: VRAM_SWAP_SOCKET longer than a Unix socket path" {
	long=/run/$(printf 'x%.0s' {1..110})
	bad "VRAM_SWAP_SOCKET=$long" "VRAM_SWAP_SOCKET='$long': longer than the 107 bytes"
}

@test "defaults: VRAM_SWAP_SOCKET whose control socket would not fit" {
	# 104 bytes: the daemon's control socket next to it, PATH.ctl, is 108.
	long=/run/$(printf 'x%.0s' {1..99})
	bad "VRAM_SWAP_SOCKET=$long" "VRAM_SWAP_SOCKET='$long': the daemon's control socket next to it"
	agree "VRAM_SWAP_SOCKET=$long" bad
	agree "VRAM_SWAP_SOCKET=${long%x}" good
}

@test "defaults: VRAM_SWAP_DEVICE of eight GPU UUIDs reaches the daemon whole" {
	local uuids i smi=
	for i in 1 2 3 4 5 6 7 8; do
		uuids+=${uuids:+,}GPU-1b2c3d4e-0000-1111-2222-33334444555$i
		smi+="${smi:+$'\n'}$((i - 1)), GPU-1b2c3d4e-0000-1111-2222-33334444555$i, 00000000:6$i:00.0, NVIDIA H100 80GB HBM3, 81559, 80871"
	done
	stub nvidia-smi 0 "$smi"
	write_defaults "VRAM_SWAP_DEVICE=$uuids"
	run "$SETUP"
	assert_success
	run calls
	assert_line --partial " VRAM_SWAP_DEVICE=$uuids VRAM_SWAP_BACKEND="
}

@test "defaults: a long comment line stays one comment, as systemd reads it" {
	# 4095 bytes of comment, then what looks like a key on the same line.
	printf '#%s%s\n' "$(printf 'x%.0s' {1..4094})" VRAM_SWAP_EXPORT=foo >"$DEFAULTS"
	run "$VS_REAL_DAEMON" --check-config "$DEFAULTS"
	assert_success
	assert_line VRAM_SWAP_EXPORT=vram-swap
	run "$SETUP"
	assert_success
	run calls
	assert_line --partial " VRAM_SWAP_EXPORT=vram-swap VRAM_SWAP_MAX_CLIENTS="
}

@test "defaults: a NUL byte is refused (systemd refuses the whole file)" {
	printf '# test defaults\nVRAM_SWAP_SIZE=8G\0x\n' >"$DEFAULTS"
	run "$SETUP" --check
	assert_failure 1
	assert_output --partial "$DEFAULTS:2: a NUL byte: systemd refuses to read a file holding one"
}

@test "defaults: a comment ending in a backslash is refused (systemd 252 joins the next line)" {
	bad "# see below \\" "a comment ending in a backslash: systemd 252 reads the next line as part of the comment"
}

@test "defaults: a carriage return inside a line is refused (systemd ends the line there)" {
	bad $'# note\rVRAM_SWAP_EXPORT=foo' "a carriage return inside the line: systemd ends the line there"
}

@test "defaults: spaces around = are refused" {
	bad 'VRAM_SWAP_SIZE = 8G' "not a KEY=value line: VRAM_SWAP_SIZE = 8G"
}

@test "defaults: a key given twice takes its last value, as in systemd" {
	write_defaults VRAM_SWAP_SIZE=8G VRAM_SWAP_SIZE=4G
	run "$SETUP"
	assert_success
	run calls
	assert_line --regexp "^VRAM_SWAP_SIZE=4G .* vram-swapd "
}

@test "defaults: VRAM_SWAP_EXPORT with a slash" {
	bad VRAM_SWAP_EXPORT=a/b "VRAM_SWAP_EXPORT='a/b': expected 1 to 64 letters, digits"
}

@test "defaults: VRAM_SWAP_MAX_CLIENTS=0" {
	bad VRAM_SWAP_MAX_CLIENTS=0 "VRAM_SWAP_MAX_CLIENTS='0': expected a number of clients from 1 to 64"
}

@test "defaults: VRAM_SWAP_MAX_CLIENTS=65" {
	bad VRAM_SWAP_MAX_CLIENTS=65 "VRAM_SWAP_MAX_CLIENTS='65': expected a number of clients from 1 to 64"
}

@test "defaults: a shell expansion is refused" {
	bad 'VRAM_SWAP_SIZE=$((8))G' "VRAM_SWAP_SIZE='\$((8))G': quotes, spaces, \$, \` and \\ are not allowed"
}

@test "defaults: a value with a space is refused" {
	bad 'VRAM_SWAP_EXPORT="vram swap"' "VRAM_SWAP_EXPORT='vram swap': quotes, spaces"
}

@test "defaults: an unknown key (a typo) is refused" {
	bad VRAM_SWAP_SIZ=8G "unknown key VRAM_SWAP_SIZ (value '8G')"
}

@test "defaults: a line that is not KEY=value is refused" {
	bad "export VRAM_SWAP_SIZE=8G" "not a KEY=value line: export VRAM_SWAP_SIZE=8G"
}

@test "defaults: VRAM_SWAP_SIZE below VRAM_SWAP_MIN_SIZE is what was asked for" {
	# The daemon's rule: the minimum bounds percentages and back-off only.
	write_defaults VRAM_SWAP_SIZE=512M VRAM_SWAP_MIN_SIZE=1G
	run "$SETUP"
	assert_success
	run calls
	assert_line --regexp "^VRAM_SWAP_SIZE=512M VRAM_SWAP_MIN_SIZE=1G .* vram-swapd "
}

@test "defaults: more connections than the daemon accepts" {
	write_defaults VRAM_SWAP_CONNECTIONS=9 VRAM_SWAP_MAX_CLIENTS=8
	run "$SETUP"
	assert_failure 1
	assert_output --partial "$DEFAULTS: VRAM_SWAP_CONNECTIONS='9' is more than VRAM_SWAP_MAX_CLIENTS='8'"
	assert_equal "$(calls)" ""
}

@test "defaults: every bad line is reported, not just the first" {
	write_defaults VRAM_SWAP_DISCARD=maybe VRAM_SWAP_BACKEND=rocm
	run "$SETUP"
	assert_failure 1
	assert_output --partial "$DEFAULTS:2: VRAM_SWAP_DISCARD='maybe'"
	assert_output --partial "$DEFAULTS:3: VRAM_SWAP_BACKEND='rocm'"
}

@test "defaults: quoted values, comments, blank lines and CRLF are accepted" {
	printf '%s\r\n' '# comment' '' 'VRAM_SWAP_SIZE="2G"' "VRAM_SWAP_PRIORITY='5'" \
		'  VRAM_SWAP_DISCARD=off' >"$DEFAULTS"
	run "$SETUP"
	assert_success
	run calls
	assert_line --regexp "^VRAM_SWAP_SIZE=2G .* vram-swapd "
	assert_line "swapon -p 5 /dev/nbd0"
}

@test "defaults: a missing file means the built-in defaults, with a warning" {
	rm "$DEFAULTS"
	run "$SETUP" --check
	assert_success
	assert_output --partial "$DEFAULTS does not exist; using the built-in defaults"
}

@test "defaults: VRAM_SWAP_DEFAULTS names another file" {
	echo VRAM_SWAP_BACKEND=vulkan >"$T/other"
	VRAM_SWAP_DEFAULTS=$T/other run "$SETUP" --check
	assert_failure 1
	assert_output --partial "$T/other:1: VRAM_SWAP_BACKEND='vulkan'"
}

@test "defaults: the shipped file is valid and holds every key with its default" {
	cp "$REPO/systemd/vram-swap.default" "$DEFAULTS"
	run "$SETUP" --check
	assert_success
	# Each key is set to the default that its comment states.
	while IFS='=' read -r key value; do
		grep -qx "# Default: $value" <(sed -n "/^# Default:/h; /^$key=/{x;p}" "$DEFAULTS") ||
			fail "$key=$value: the comment above it states another default"
	done < <(grep -E '^VRAM_SWAP_[A-Z_]+=' "$DEFAULTS")
	run "$VS_REAL_DAEMON" --check-config
	assert_equal "$(grep -cE '^VRAM_SWAP_[A-Z_]+=' "$DEFAULTS")" "${#lines[@]}"
}

@test "defaults: the shipped file reads the same in sh as in the scripts" {
	# What sh's '.' sees ...
	sh_view=$(env -i sh -c ". '$REPO/systemd/vram-swap.default'; set" | grep '^VRAM_SWAP_' | tr -d "'" | sort)
	# ... equals the file's lines as the parser (and systemd) take them.
	file_view=$(grep -E '^VRAM_SWAP_[A-Z_]+=' "$REPO/systemd/vram-swap.default" | sort)
	assert_equal "$sh_view" "$file_view"
}

@test "defaults: the daemon's defaults are the shipped file's" {
	run "$VS_REAL_DAEMON" --check-config
	assert_success
	assert_equal "$(sort <<<"$output")" \
		"$(grep -E '^VRAM_SWAP_[A-Z_]+=' "$REPO/systemd/vram-swap.default" | sort)"
}

@test "defaults: the library holds no defaults or checks of its own" {
	run grep -nE 'VS_DEFAULT\b|vs_check_value|75%|512M' "$REPO/scripts/vram-swap-lib.sh"
	assert_failure
}

# agree LINE: the daemon's verdict on a defaults file holding LINE is the
# scripts' verdict: both accept it (setup passes the daemon's normal form
# on), or both refuse it with the same reason.
agree() {
	local line=$1 want=$2
	write_defaults "$line"
	run "$VS_REAL_DAEMON" --check-config "$DEFAULTS"
	local drc=$status dout=$output
	run "$SETUP" --check
	if [[ $want == good ]]; then
		[[ $drc == 0 ]] || fail "daemon refused '$line': $dout"
		assert_success
	else
		[[ $drc == 2 ]] || fail "daemon accepted '$line' (status $drc)"
		assert_failure 1
		why=$(head -1 <<<"$dout")
		assert_output --partial "${why#vram-swapd: }"
	fi
	# The daemon itself, given the value through its environment as systemd
	# would, takes the same side (a good value fails later, at the backend).
	local key=${line%%=*} val=${line#*=}
	[[ $key == VRAM_SWAP_@(SIZE|MIN_SIZE|STEP|DEVICE|BACKEND|SOCKET|EXPORT|MAX_CLIENTS) ]] || return 0
	run env "$key=$val" "$VS_REAL_DAEMON" --backend host --socket "$T/no/such/dir/s" \
		--status-file "" --size 4M --min-size 4M
	if [[ $want == good ]]; then
		[[ $status != 2 ]] || fail "the daemon's environment refused '$line': $output"
	else
		[[ $status == 2 ]] || fail "the daemon's environment accepted '$line' (status $status)"
	fi
}

@test "defaults: daemon and scripts agree on good values" {
	local v
	for v in VRAM_SWAP_SIZE=8G VRAM_SWAP_SIZE=8g VRAM_SWAP_SIZE=8GiB VRAM_SWAP_SIZE=75% \
		VRAM_SWAP_SIZE=100% VRAM_SWAP_SIZE=1048576 VRAM_SWAP_MIN_SIZE=4K \
		VRAM_SWAP_STEP=1t VRAM_SWAP_DEVICE=1 VRAM_SWAP_DEVICE=GPU-1b2c3d4e-0000-1111-2222-333344445555 \
		VRAM_SWAP_DEVICE=0000:B3:00.0 VRAM_SWAP_BACKEND=host \
		VRAM_SWAP_PRIORITY=0 VRAM_SWAP_PRIORITY=32767 VRAM_SWAP_CONNECTIONS=1 \
		VRAM_SWAP_NBD_DEVICE=/dev/nbd1 VRAM_SWAP_NBD_DEVICE=nbd1 VRAM_SWAP_DISCARD=off \
		VRAM_SWAP_SOCKET=/run/vram-swap/other.sock VRAM_SWAP_EXPORT=a.b_c-9 \
		VRAM_SWAP_MAX_CLIENTS=64 VRAM_SWAP_DEVICE=all VRAM_SWAP_DEVICE=0,1 \
		VRAM_SWAP_DEVICE=0,GPU-1b2c3d4e-0000-1111-2222-333344445555 VRAM_SWAP_CHUNK=2G \
		VRAM_SWAP_CHUNK=auto VRAM_SWAP_RESERVE=0 VRAM_SWAP_RESERVE=2G VRAM_SWAP_RESERVE=10% \
		VRAM_SWAP_AUTO=off VRAM_SWAP_GROW_DELAY=0 VRAM_SWAP_ON_BATTERY=release; do
		agree "$v" good
	done
}

@test "defaults: daemon and scripts agree on bad values" {
	local v
	for v in VRAM_SWAP_SIZE=8GB VRAM_SWAP_SIZE=0 VRAM_SWAP_SIZE=101% VRAM_SWAP_SIZE=1.5G \
		VRAM_SWAP_SIZE=1000 VRAM_SWAP_SIZE=99999999999T VRAM_SWAP_SIZE=-1G \
		VRAM_SWAP_MIN_SIZE=50% VRAM_SWAP_STEP=12Q VRAM_SWAP_DEVICE=gpu0 \
		VRAM_SWAP_DEVICE=the-big-one VRAM_SWAP_BACKEND=opencl VRAM_SWAP_PRIORITY=40000 \
		VRAM_SWAP_CONNECTIONS=0 VRAM_SWAP_CONNECTIONS=65 VRAM_SWAP_NBD_DEVICE=/dev/sda \
		VRAM_SWAP_DISCARD=yes VRAM_SWAP_SOCKET=run/s VRAM_SWAP_SOCKET=/run/../s \
		VRAM_SWAP_EXPORT=a/b VRAM_SWAP_MAX_CLIENTS=0 VRAM_SWAP_MAX_CLIENTS=9x \
		VRAM_SWAP_CHUNK=3M VRAM_SWAP_RESERVE=x VRAM_SWAP_AUTO=1 VRAM_SWAP_GROW_DELAY=86401 \
		VRAM_SWAP_ON_BATTERY=yes VRAM_SWAP_DEVICE=all,0; do
		agree "$v" bad
	done
}

@test "defaults: README.md and docs/shell.md state the daemon's defaults" {
	local doc key value
	run "$VS_REAL_DAEMON" --check-config
	assert_success
	local want=$output
	for doc in README.md docs/shell.md; do
		while IFS='=' read -r key value; do
			grep -qF "| \`$key\` | \`$value\` |" "$REPO/$doc" ||
				fail "$doc does not give $key the default $value"
		done <<<"$want"
		# ... and no key the daemon does not know.
		assert_equal "$(grep -oE '^\| `VRAM_SWAP_[A-Z_]+` \|' "$REPO/$doc" | tr -d '|` ' | sort)" \
			"$(cut -d= -f1 <<<"$want" | sort)"
	done
}

# The daemon's own list of its flags, from --help: "FLAG ENV DEFAULT" lines.
daemon_flags() {
	local line flag=
	"$VS_REAL_DAEMON" --help | while IFS= read -r line; do
		if [[ $line =~ ^\ +(-.,\ )?--([a-z-]+)= ]]; then
			flag=${BASH_REMATCH[2]}
		elif [[ $line =~ ^\ +(VRAM_SWAP_[A-Z_]+)\ \(default\ (.*)\)$ ]]; then
			printf '%s %s %s\n' "$flag" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
		fi
	done
}

@test "defaults: docs/DESIGN.md's table of flags is the daemon's" {
	local flag env def n=0
	while read -r flag env def; do
		grep -qF "| \`--$flag\` | \`$env\` | \`$def\`" "$REPO/docs/DESIGN.md" ||
			fail "docs/DESIGN.md does not give --$flag the variable $env and the default $def"
		n=$((n + 1))
	done < <(daemon_flags)
	((n > 10)) || fail "--help lists only $n settings"
	assert_equal "$(grep -cE '^\| `--[a-z-]+` \| `VRAM_SWAP_' "$REPO/docs/DESIGN.md")" "$n"
}

@test "defaults: vram-swapd(8) documents every flag with its variable and default" {
	local flag env def body n=0 page
	page=$(MANWIDTH=4000 man -l "$REPO/man/vram-swapd.8" 2>/dev/null | col -bx)
	while read -r flag env def; do
		grep -qE "\[--$flag( |\])" <<<"$page" || fail "the SYNOPSIS lacks --$flag"
		body=$(grep -A1 -E "^ {7}(-., )?--$flag( |$)" <<<"$page" | tail -n 1)
		[[ -n $body ]] || fail "no entry for --$flag under OPTIONS"
		[[ $body == *"Default $def."* ]] || fail "--$flag: the entry does not say Default $def."
		[[ $body == *"Variable: $env."* ]] || fail "--$flag: the entry does not name $env"
		n=$((n + 1))
	done < <(daemon_flags)
	# ... and no other option but --ctl, --check-config, --verbose, --help, --version.
	assert_equal "$(grep -cE '^ {7}(-., )?--[a-z-]+( |$)' <<<"$page")" "$((n + 5))"
}
