# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The loader of the library that the vram-swap-* scripts share: sourced,
# never run. The parts, one concern each, live in lib/ next to this file,
# in the source tree and once installed alike.
# shellcheck source-path=SCRIPTDIR
VS_LIBDIR=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")
for vs_part in log paths formats settings record daemon start devices swap chunks gpu; do
	[[ -r $VS_LIBDIR/lib/$vs_part.sh ]] || {
		echo "${0##*/}: error: $VS_LIBDIR/lib/$vs_part.sh is missing; reinstall vram-swap" >&2
		exit 1
	}
done
# shellcheck source=lib/log.sh
. "$VS_LIBDIR/lib/log.sh"
# shellcheck source=lib/paths.sh
. "$VS_LIBDIR/lib/paths.sh"
# shellcheck source=lib/formats.sh
. "$VS_LIBDIR/lib/formats.sh"
# shellcheck source=lib/settings.sh
. "$VS_LIBDIR/lib/settings.sh"
# shellcheck source=lib/record.sh
. "$VS_LIBDIR/lib/record.sh"
# shellcheck source=lib/daemon.sh
. "$VS_LIBDIR/lib/daemon.sh"
# shellcheck source=lib/start.sh
. "$VS_LIBDIR/lib/start.sh"
# shellcheck source=lib/devices.sh
. "$VS_LIBDIR/lib/devices.sh"
# shellcheck source=lib/swap.sh
. "$VS_LIBDIR/lib/swap.sh"
# shellcheck source=lib/chunks.sh
. "$VS_LIBDIR/lib/chunks.sh"
# shellcheck source=lib/gpu.sh
. "$VS_LIBDIR/lib/gpu.sh"
