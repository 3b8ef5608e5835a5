# shellcheck shell=bash
# The table of tricky /etc/default/vram-swap files for the boot test's
# envfile step (tests/boot/guest.sh, step_envfile): each is read by
# `vram-swapd --check-config FILE` (what the scripts use) and by systemd's
# own EnvironmentFile=- in a transient unit (what the daemon gets). A file
# passes when check-config refuses it (exit 2 with a message) or when every
# VRAM_SWAP_* key comes out the same on both sides. docs/boot-e2e.md says
# how systemd 252 reads such a file.
#
#   envcase NAME FLAGS FORMAT [ARG...]
#
# The file is `printf FORMAT ARG...` (so \n, \r, \t, \0 and \NNN octal
# escapes are bytes, and a literal % is %%). FLAGS is "-", or "start": a
# file check-config accepts must then also start vram-swapd, run from a
# unit with that file, for 10 s (what check-config calls good, the daemon
# must not refuse).

# Keys whose normal form may differ from what was written (sizes and
# numbers: 1024MiB is 1G, 007 is 7). Every other key's normal form is the
# value as written, byte for byte: anything else is check-config changing
# what the daemon will see.
# shellcheck disable=SC2034 # read by guest.sh
ENV_REWRITTEN="VRAM_SWAP_SIZE VRAM_SWAP_MIN_SIZE VRAM_SWAP_STEP VRAM_SWAP_CHUNK VRAM_SWAP_RESERVE
	VRAM_SWAP_GROW_DELAY VRAM_SWAP_PRIORITY VRAM_SWAP_CONNECTIONS VRAM_SWAP_MAX_CLIENTS"

pad() { printf "%${1}s" "" | tr ' ' x; }
uuids() {
	local i
	for i in 1 2 3 4 5 6 7 8; do printf 'GPU-1234567%s-1234-1234-1234-123456789abc%s' "$i" "$([ $i -lt 8 ] && echo ,)"; done
}

envfile_cases() {
	envcase baseline start 'VRAM_SWAP_BACKEND=host\n'
	envcase plain - 'VRAM_SWAP_EXPORT=foo\nVRAM_SWAP_SIZE=512M\nVRAM_SWAP_PRIORITY=10\n'
	envcase double-quotes - 'VRAM_SWAP_EXPORT="foo"\nVRAM_SWAP_SIZE="1024MiB"\n'
	envcase single-quotes - "VRAM_SWAP_EXPORT='foo'\n"
	envcase quote-unclosed - 'VRAM_SWAP_EXPORT="foo\nVRAM_SWAP_SIZE=512M\n'
	envcase quote-inside - 'VRAM_SWAP_EXPORT=fo"o"\n'
	envcase quote-then-text - 'VRAM_SWAP_EXPORT="fo"o\n'
	envcase quoted-space - 'VRAM_SWAP_EXPORT="foo bar"\n'
	envcase escaped-quote - 'VRAM_SWAP_EXPORT="fo\\"o"\n'
	envcase backslash - 'VRAM_SWAP_EXPORT=fo\\o\n'
	# shellcheck disable=SC2016 # a literal $, as an administrator may write
	envcase dollar - 'VRAM_SWAP_EXPORT=$HOSTNAME\n'
	envcase trailing-spaces - 'VRAM_SWAP_EXPORT=foo   \n'
	envcase trailing-tab - 'VRAM_SWAP_SIZE=512M\t\n'
	envcase leading-blanks - '   VRAM_SWAP_EXPORT=foo\n\tVRAM_SWAP_SIZE=512M\n'
	envcase spaces-around-equals - 'VRAM_SWAP_EXPORT = foo\n'
	envcase crlf - 'VRAM_SWAP_EXPORT=foo\r\nVRAM_SWAP_SIZE=512M\r\n'
	envcase bare-cr - 'VRAM_SWAP_EXPORT=foo\rVRAM_SWAP_SIZE=512M\n'
	envcase export - 'export VRAM_SWAP_EXPORT=foo\n'
	envcase duplicate - 'VRAM_SWAP_EXPORT=foo\nVRAM_SWAP_EXPORT=bar\n'
	envcase empty - 'VRAM_SWAP_EXPORT=\n'
	envcase empty-quoted - 'VRAM_SWAP_EXPORT=""\n'
	envcase no-equals - 'VRAM_SWAP_EXPORT\nVRAM_SWAP_SIZE=512M\n'
	envcase continuation - 'VRAM_SWAP_EXPORT=fo\\\no\n'
	envcase hash-comments - '# VRAM_SWAP_EXPORT=foo\n  # indented\nVRAM_SWAP_SIZE=512M\n'
	envcase semicolon-comment - '; VRAM_SWAP_EXPORT=foo\nVRAM_SWAP_SIZE=512M\n'
	envcase comment-after-value - 'VRAM_SWAP_EXPORT=foo # note\n'
	envcase comment-backslash - '# a note that ends in a backslash \\\nVRAM_SWAP_EXPORT=foo\n'
	envcase no-final-newline - 'VRAM_SWAP_EXPORT=foo'
	envcase lowercase-key - 'vram_swap_export=foo\n'
	envcase nul-line - 'VRAM_SWAP_SIZE=512M\n\0\nVRAM_SWAP_EXPORT=foo\n'
	envcase nul-in-value - 'VRAM_SWAP_EXPORT=fo\0o\nVRAM_SWAP_SIZE=512M\n'
	envcase invalid-utf8 - 'VRAM_SWAP_EXPORT=f\377o\n'
	# check-config once read 4095 bytes at a time: the rest of this line
	# became a line of its own.
	envcase long-comment-split - '#%s%s\n' "$(pad 4094)" VRAM_SWAP_EXPORT=foo
	envcase long-comment - '#%s\nVRAM_SWAP_EXPORT=foo\n' "$(pad 6000)"
	envcase long-value - 'VRAM_SWAP_EXPORT=%s\n' "$(pad 5000)"
	envcase size-forms - 'VRAM_SWAP_SIZE=50%%\nVRAM_SWAP_MIN_SIZE=1073741824\nVRAM_SWAP_STEP=64m\nVRAM_SWAP_PRIORITY=007\n'
	envcase device-list - 'VRAM_SWAP_DEVICE=0,1\n'
	# 327 bytes, 8 GPUs by UUID: once accepted and cut to 127.
	envcase device-long - 'VRAM_SWAP_DEVICE=%s\n' "$(uuids)"
	envcase socket-long-ok start 'VRAM_SWAP_SOCKET=/run/vte/%s.sock\n' "$(pad 90)"
	# 107 bytes, the most a socket path may have; the control socket's
	# name (.ctl added) is longer still.
	envcase socket-ctl-too-long start 'VRAM_SWAP_SOCKET=/run/vte/%s\n' "$(pad 98)"
}
