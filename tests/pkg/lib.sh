# shellcheck shell=bash
# Assertions for tests/pkg: each prints one line; failures are counted and
# the suite fails at the end (run.sh), so one run reports every problem.
FAILS=${FAILS:-0}

ok()   { printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
section() { printf '\n== %s\n' "$*"; }

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# same_text DESCRIPTION EXPECTED ACTUAL: exact comparison, diff on failure.
same_text() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/       /' | tail -n +3 || true
	fi
}

has_line()   { grep -qxF -- "$2" <<<"$1"; }
lacks_re()   { ! grep -qE -- "$2" <<<"$1"; }
has_re()     { grep -qE -- "$2" <<<"$1"; }
