#!/usr/bin/env bats
# The key/value formats the scripts read (docs/shell.md, "Formats"), held
# to what the real daemon (host backend) and the real scripts write. The
# golden files in tests/bats/golden/ are that output with the test's paths
# put back to the installed ones; numbers are compared as numbers, not
# values. After a deliberate change of a format, regenerate them with
#   VS_GOLDEN_UPDATE=1 bats tests/bats/formats.bats
# and update the documented samples to match.

load helpers

FORMATS="status ctl-chunks ctl-gpus ctl-target record"

setup() {
	vs_env
	real_daemon
	write_defaults VRAM_SWAP_BACKEND=host VRAM_SWAP_SIZE=64M VRAM_SWAP_MIN_SIZE=4M \
		VRAM_SWAP_CHUNK=64M VRAM_SWAP_CONNECTIONS=1
}

teardown() {
	kill_recorded_daemon
}

# The test's paths put back to the installed ones.
unplace() { sed -e "s|$T/run/|/run/|g" -e "s|$T/vram-swapd.log|/var/log/vram-swapd.log|g"; }

# A format's shape: every number one N, so that sizes, pids and counters
# that differ from run to run compare equal, while keys, their order and
# every word do not.
shape() { sed -E 's/[0-9]+/N/g' "$@"; }

# What the daemon and the scripts write now, into DIR: the daemon's status
# file and control replies, and setup's record, once setup has attached.
capture() {
	local dir=$1 c
	mkdir -p "$dir"
	"$SETUP" >/dev/null || fail "setup failed"
	# The status file as the daemon rewrites it with the chunk attached.
	sleep 1.2
	unplace <"$RUNDIR/status" >"$dir/status"
	for c in chunks gpus target; do
		"$VRAM_SWAP_DAEMON" --socket "$SOCK" --ctl "$c" | unplace >"$dir/ctl-$c"
	done
	unplace <"$STATE" >"$dir/record"
}

# The sample docs/shell.md gives for FORMAT: the fenced block after the
# line "<!-- format: FORMAT -->".
doc_sample() {
	awk -v m="<!-- format: $1 -->" '
		$0 == m { on = 1; next }
		on && /^```/ { if (in_block) exit; in_block = 1; next }
		in_block { print }' "$REPO/docs/shell.md"
}

@test "formats: the daemon's status file and replies and setup's record have the golden shape" {
	capture "$T/now"
	if [[ -n ${VS_GOLDEN_UPDATE:-} ]]; then
		for f in $FORMATS; do cp "$T/now/$f" "$GOLDEN/$f"; done
	fi
	for f in $FORMATS; do
		assert_file_exists "$GOLDEN/$f"
		run diff -u <(shape "$GOLDEN/$f") <(shape "$T/now/$f")
		assert_success "$f is not what the golden file says:
$output"
	done
}

@test "formats: docs/shell.md's samples are the golden files" {
	for f in $FORMATS; do
		run doc_sample "$f"
		[[ -n $output ]] || fail "docs/shell.md has no sample for $f"
		run diff -u <(shape "$GOLDEN/$f") <(doc_sample "$f" | shape)
		assert_success "docs/shell.md's sample of $f differs from tests/bats/golden/$f:
$output"
	done
}

@test "formats: every field the scripts read of the status file's lists is one the daemon writes" {
	# vs_kv_read splits chunk.N and gpu.N into the fields its table names:
	# as many as the daemon writes (the last one takes the rest).
	declare -A st=()
	# shellcheck source=scripts/vram-swap-lib.sh
	. "$REPO/scripts/vram-swap-lib.sh"
	vs_kv_read "$GOLDEN/status" st VS_STATUS_FIELDS || fail "cannot read the golden status"
	[[ ${st[chunk.0.name]} == vram-swap.0 ]] || fail "chunk.0.name is '${st[chunk.0.name]}'"
	[[ ${st[gpu.0.name]} == "host memory" ]] || fail "gpu.0.name is '${st[gpu.0.name]}'"
	[[ ${st[chunk.0.size]} == 67108864 ]] || fail "chunk.0.size is '${st[chunk.0.size]}'"
	[[ ${st[gpu.0.chunks]} == 1 && ${st[gpu.0.target]} == 1 ]] || fail "gpu.0 chunks/target"
}
