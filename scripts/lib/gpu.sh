# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The GPU checks of setup: nvidia-smi, the GPUs VRAM_SWAP_DEVICE names,
# the driver against its user-space library.


# Runs nvidia-smi's query; prints "index|uuid|bus_id|name|total MiB|free MiB"
# lines, or fails with the precise reason.
vs_gpu_query() {
	local out rc
	if ! command -v nvidia-smi >/dev/null 2>&1; then
		vs_err "nvidia-smi not found: install the NVIDIA driver utilities (Debian: nvidia-smi; Ubuntu: nvidia-utils-<version>), or set VRAM_SWAP_BACKEND=host in $VS_DEFAULTS to use RAM for testing"
		return 1
	fi
	out=$(nvidia-smi --query-gpu=index,uuid,pci.bus_id,name,memory.total,memory.free \
		--format=csv,noheader,nounits 2>&1)
	rc=$?
	if ((rc == 18)) || [[ $out == *"Driver/library version mismatch"* ]]; then
		vs_err "NVIDIA driver/library version mismatch (nvidia-smi: ${out//$'\n'/ }): the loaded kernel module and the user-space driver differ, usually after a driver upgrade without a reboot; reboot (or reload the nvidia modules) and try again"
		return 1
	fi
	if ((rc != 0)); then
		vs_err "nvidia-smi failed (exit $rc): ${out//$'\n'/ }; check that the NVIDIA driver is loaded (lsmod | grep nvidia) and the GPU is visible"
		return 1
	fi
	printf '%s\n' "$out" | sed -e 's/[[:space:]]*,[[:space:]]*/|/g'
}

# Normalises a PCI bus id for comparison: lower case, 4-digit domain.
vs_pci_norm() {
	local v=${1,,} dom rest
	if [[ $v =~ ^([0-9a-f]+):([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$ ]]; then
		dom=${BASH_REMATCH[1]} rest=${BASH_REMATCH[2]}
		printf '%04x:%s\n' "$((16#$dom))" "$rest"
	else
		printf '0000:%s\n' "$v"
	fi
}

# Finds the lines of vs_gpu_query's output that VRAM_SWAP_DEVICE names
# ("all": every GPU; else each of its comma-separated entries).
vs_gpu_select() {
	local list=$1 spec=${VS_CONF[VRAM_SWAP_DEVICE]} want idx uuid bus rest found
	if [[ $spec == all ]]; then
		printf '%s\n' "$list"
		return 0
	fi
	local IFS=,
	for want in $spec; do
		found=0
		while IFS='|' read -r idx uuid bus rest; do
			if [[ $want =~ ^[0-9]+$ && $idx == "$((10#$want))" ]] ||
				[[ ${want,,} == "${uuid,,}" ]] ||
				[[ $want == *:* && $(vs_pci_norm "$want") == $(vs_pci_norm "$bus") ]]; then
				echo "$idx|$uuid|$bus|$rest"
				found=1
				break
			fi
		done <<<"$list"
		((found)) && continue
		if [[ $want == "$spec" ]]; then
			vs_err "no GPU matches VRAM_SWAP_DEVICE=$spec in $VS_DEFAULTS; GPUs present (index, uuid, bus id):"
		else
			vs_err "no GPU matches $want of VRAM_SWAP_DEVICE=$spec in $VS_DEFAULTS; GPUs present (index, uuid, bus id):"
		fi
		while IFS='|' read -r idx uuid bus rest; do
			printf '  %s  %s  %s  %s\n' "$idx" "$uuid" "$bus" "${rest%%|*}" >&2
		done <<<"$list"
		return 1
	done
}

# Kernel module version against the version of the libcuda.so.1 that the
# loader resolves; they must be equal or CUDA refuses to start.
vs_driver_versions_match() {
	local kver="" lib="" uver=""
	if [[ -r $VS_SYS/module/nvidia/version ]]; then
		kver=$(<"$VS_SYS/module/nvidia/version")
	elif [[ -r $VS_PROC/driver/nvidia/version ]]; then
		kver=$(sed -n 's/^NVRM version:.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' \
			"$VS_PROC/driver/nvidia/version")
	fi
	# Prefer the 64-bit entry, "(libc6,x86-64)" or "(libc6,AArch64)", over
	# a 32-bit "(libc6)" one.
	lib=${VRAM_SWAP_LIBCUDA:-$(ldconfig -p 2>/dev/null | awk '
		$1 == "libcuda.so.1" && $2 ~ /,/ { print $NF; found = 1; exit }
		$1 == "libcuda.so.1" && !any { any = $NF }
		END { if (!found && any) print any }')}
	if [[ -n $lib ]]; then
		lib=$(readlink -f -- "$lib" 2>/dev/null)
		[[ ${lib##*/} =~ ^libcuda\.so\.([0-9]+\.[0-9.]+)$ ]] && uver=${BASH_REMATCH[1]}
	fi
	if [[ -z $lib ]]; then
		vs_err "libcuda.so.1 not found by the dynamic loader (ldconfig -p): install the NVIDIA user-space driver (Debian: libcuda1; Ubuntu: libnvidia-compute-<version>)"
		return 1
	fi
	if [[ -z $kver || -z $uver ]]; then
		vs_warn "cannot compare driver versions (kernel module: ${kver:-unknown}, libcuda: ${uver:-unknown} from ${lib}); going on"
		return 0
	fi
	if [[ $kver != "$uver" ]]; then
		vs_err "NVIDIA driver/library version mismatch: kernel module $kver, libcuda.so.1 -> $lib ($uver); reboot after a driver upgrade, or install the user-space driver matching the module"
		return 1
	fi
	return 0
}
