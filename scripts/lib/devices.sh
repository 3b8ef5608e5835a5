# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Block devices: device numbers, the kernel's exclusive claim (the
# interlock helper), nbd devices free to use, and detaching one.

# "MAJ:MIN" of the block device at PATH, or nothing.
vs_blk_num() {
	local t maj min
	[[ -b $1 ]] || return 0
	t=$(stat -L -c '%t %T' -- "$1" 2>/dev/null) || return 0
	read -r maj min <<<"$t"
	printf '%d:%d\n' "0x$maj" "0x$min"
}

# "MAJ:MIN" of a block device from sysfs, or nothing.
vs_devnum() {
	local f=$VS_SYS/block/${1##*/}/dev
	[[ -r $f ]] && cat "$f"
	return 0
}

# The interlock helper (vram-swap-excl, next to the library's loader once
# installed; build/ in a source tree).
vs_excl_bin() {
	local c
	for c in "${VRAM_SWAP_EXCL:-}" "$VS_LIBDIR/vram-swap-excl" "$VS_LIBDIR/../build/vram-swap-excl"; do
		[[ -n $c && -x $c ]] && { echo "$c"; return 0; }
	done
	vs_err "vram-swap-excl not found next to $VS_LIBDIR/vram-swap-lib.sh; reinstall vram-swap"
	return 1
}

# Asks the kernel whether anything holds DEV: an exclusive open fails with
# EBUSY while it is swap, mounted or a member of another block device,
# whatever path /proc/swaps shows. Returns 0 free, 1 held, 2 unknown (no
# helper, no permission, not a block device), 3 no such device.
vs_dev_claim() {
	local excl rc
	excl=$(vs_excl_bin) || return 2
	"$excl" "$1" 2>/dev/null
	rc=$?
	((rc <= 3)) || rc=2
	return "$rc"
}

# nbd-client -d DEV while holding DEV exclusively, so that nothing can
# claim it between the check and the detach. Fails, detaching nothing,
# when the kernel holds DEV.
vs_nbd_detach() {
	local dev=$1 excl out rc
	excl=$(vs_excl_bin) || return 2
	out=$("$excl" "$dev" nbd-client -d "$dev" 2>&1)
	rc=$?
	((rc == 0)) && return 0
	if ((rc == 1)) && [[ $out == *"in use by the kernel"* ]]; then
		vs_err "refusing to detach $dev: the kernel still holds it (swap, a mount or another exclusive holder); detaching would lose the data on it"
	else
		vs_err "nbd-client -d $dev failed: ${out//$'\n'/ }"
	fi
	return 1
}

# An nbd device is in use when the kernel has a client pid for it or a
# non-zero size (see nbd-client(8) and the nbd driver's sysfs attributes).
vs_nbd_busy() {
	local name=${1##*/} size=0
	[[ -e $VS_SYS/block/$name/pid ]] && return 0
	[[ -r $VS_SYS/block/$name/size ]] && size=$(<"$VS_SYS/block/$name/size")
	[[ $size =~ ^[0-9]+$ ]] && ((size > 0))
}

# Hibernation writes its image to the resume device: never ours.
vs_nbd_not_resume() {
	local num resume=""
	num=$(vs_devnum "$1")
	[[ -r $VS_SYS/power/resume ]] && resume=$(<"$VS_SYS/power/resume")
	if [[ -n $num && $resume == "$num" ]]; then
		vs_err "$1 ($num) is the hibernation resume device (/sys/power/resume); VRAM does not survive power-off: point resume= at a disk swap"
		return 1
	fi
}

# Picks the nbd device for a chunk, as VRAM_SWAP_NBD_DEVICE says: the named
# one, or the first free one for "auto". Prints the /dev path (real name,
# for the kernel and /proc/swaps) or fails with a message.
vs_pick_nbd() {
	local want=${VS_CONF[VRAM_SWAP_NBD_DEVICE]} d name
	if [[ $want != auto ]]; then
		name=${want##*/}
		[[ -e $VS_DEV/$name ]] || {
			vs_err "$VS_DEV/$name does not exist (VRAM_SWAP_NBD_DEVICE=$want in $VS_DEFAULTS); is the nbd module loaded with enough nbds_max?"
			return 1
		}
		if vs_nbd_busy "$name"; then
			vs_err "/dev/$name is already in use by another nbd client; set VRAM_SWAP_NBD_DEVICE=auto or another device in $VS_DEFAULTS"
			return 1
		fi
		if vs_swap_active "/dev/$name"; then
			vs_err "swap is already active on /dev/$name, not set up by vram-swap; choose another VRAM_SWAP_NBD_DEVICE in $VS_DEFAULTS"
			return 1
		fi
		if ! vs_dev_claim "/dev/$name"; then
			vs_err "/dev/$name is held by the kernel (swap, a mount or another exclusive holder) or cannot be opened; set VRAM_SWAP_NBD_DEVICE=auto or another device in $VS_DEFAULTS"
			return 1
		fi
		vs_nbd_not_resume "/dev/$name" || return 1
		echo "/dev/$name"
		return 0
	fi
	for d in "$VS_DEV"/nbd*; do
		name=${d##*/}
		[[ $name =~ ^nbd[0-9]+$ ]] || continue
		vs_nbd_busy "$name" && continue
		vs_swap_active "/dev/$name" && continue
		vs_dev_claim "/dev/$name" || continue
		vs_nbd_not_resume "/dev/$name" || return 1
		echo "/dev/$name"
		return 0
	done
	vs_err "no free nbd device in $VS_DEV (all /dev/nbd* are in use); free one or load the nbd module with a larger nbds_max"
	return 1
}
